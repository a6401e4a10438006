"""An in-process RFC 9115 front end for unit tests of the NDC side of the client.

Built on `FakeAcme`'s strict JWS checks; adds what a DNO's front end checks of an NDC: the
External Account Binding (verified with josepy like a real server would: HS256 under the
shared MAC key, `kid`, `url`, no nonce, payload = the outer JWS's key), the account's
`delegations`, delegation objects, Order1 under a delegation, finalize and cancel. The real
front end is proven in tests/integration/delegation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import josepy as jose
from acme import jws
from aiohttp import web

from fake_acme import FakeAcme

TEMPLATE = {
    "keyTypes": [{"PublicKeyType": "id-ecPublicKey", "namedCurve": "secp256r1",
                  "SignatureType": "ecdsa-with-SHA256"}],
    "subject": {"commonName": "**"},
    "extensions": {"subjectAltName": {"DNS": ["www.dno.test", "*"]}},
}


@dataclass
class FakeFrontEnd(FakeAcme):
    """Front end state: the one valid binding, what was ordered and finalized."""

    key_id: str = "cdn-1"
    mac_key: bytes = b"k" * 32
    with_delegations: bool = True
    bad_csr: bool = False
    orders: list[dict[str, Any]] = field(default_factory=list)
    csrs: list[str] = field(default_factory=list)
    eab_headers: list[dict[str, Any]] = field(default_factory=list)
    order_status: str = "ready"

    async def directory(self, request: web.Request) -> web.Response:
        return web.json_response({
            "newNonce": self.url("/nonce"), "newAccount": self.url("/acct"),
            "newOrder": self.url("/new-order"),
            "meta": {"delegation-enabled": True, "externalAccountRequired": True,
                     "auto-renewal": {"min-lifetime": 60, "max-duration": 86400}}})

    def _check_binding(self, doc: Any, account_jwk: Any) -> str | None:
        """Why the binding is refused, or None (RFC 8555 §7.3.4's server checks)."""
        if not isinstance(doc, dict):
            return "externalAccountBinding required"
        signed = jws.JWS.from_json(doc)
        header = signed.signature.combined
        self.eab_headers.append({"alg": header.alg.name, "kid": header.kid, "url": header.url,
                                 "nonce": header.nonce})
        if header.alg is not jose.HS256 or header.kid != self.key_id or header.nonce:
            return "bad binding header"
        if header.url != self.url("/acct"):
            return "binding url is not newAccount"
        if not signed.verify(jose.JWKOct(key=self.mac_key)):
            return "binding MAC does not verify"
        if json.loads(signed.payload) != account_jwk.public_key().to_partial_json():
            return "binding does not cover the account key"
        return None

    async def new_account(self, request: web.Request) -> web.Response:
        checked = await self._verify(request)
        if isinstance(checked, web.Response):
            return checked
        refusal = self._check_binding((checked[1] or {}).get("externalAccountBinding"),
                                      self.account_key)
        if refusal:
            return self._problem(403, "unauthorized", refusal)
        return self._json({"status": "valid"}, 201, Location=self.url("/acct/1"))

    async def account(self, request: web.Request) -> web.Response:
        checked = await self._verify(request)
        if isinstance(checked, web.Response):
            return checked
        doc: dict[str, Any] = {"status": "valid", "orders": self.url("/acct/1/orders")}
        if self.with_delegations:
            doc["delegations"] = self.url("/acct/1/delegations")
        return self._json(doc)

    async def delegations(self, request: web.Request) -> web.Response:
        checked = await self._verify(request)
        if isinstance(checked, web.Response):
            return checked
        return self._json({"delegations": [self.url("/delegation/1")]})

    async def delegation(self, request: web.Request) -> web.Response:
        checked = await self._verify(request)
        if isinstance(checked, web.Response):
            return checked
        return self._json({"csr-template": TEMPLATE,
                           "cname-map": {"_acme-challenge.www.dno.test":
                                         "_acme-challenge.www.cdn.test"}})

    def _order1(self) -> dict[str, Any]:
        doc = {"status": self.order_status, "identifiers": self.orders[-1]["identifiers"],
               "authorizations": [], "finalize": self.url("/o1/finalize")}
        if "auto-renewal" in self.orders[-1]:
            doc["auto-renewal"] = self.orders[-1]["auto-renewal"]
        if self.order_status == "valid":
            key = "star-certificate" if "auto-renewal" in self.orders[-1] else "certificate"
            doc[key] = self.url("/star" if key == "star-certificate" else "/cert")
        return doc

    async def new_order(self, request: web.Request) -> web.Response:
        checked = await self._verify(request)
        if isinstance(checked, web.Response):
            return checked
        payload = checked[1]
        if payload.get("delegation") != self.url("/delegation/1"):
            return self._problem(403, "unknownDelegation", "not a delegation of this account")
        self.orders.append(payload)
        return self._json(self._order1(), 201, Location=self.url("/o1"))

    async def order1(self, request: web.Request) -> web.Response:
        checked = await self._verify(request)
        if isinstance(checked, web.Response):
            return checked
        if checked[1] == {"status": "canceled"}:
            self.order_status = "canceled"
        return self._json(self._order1())

    async def finalize1(self, request: web.Request) -> web.Response:
        checked = await self._verify(request)
        if isinstance(checked, web.Response):
            return checked
        self.csrs.append(checked[1]["csr"])
        if self.bad_csr:
            doc = {"type": "urn:ietf:params:acme:error:badCSR", "status": 403,
                   "detail": "CSR does not match the delegation's template",
                   "subproblems": [{"type": "urn:ietf:params:acme:error:badCSR",
                                    "detail": "extensions.subjectAltName.DNS: www.evil.test "
                                              "is outside the allowed domains",
                                    "identifier": {"type": "dns", "value": "www.evil.test"}}]}
            return web.Response(status=403, text=json.dumps(doc),
                                content_type="application/problem+json",
                                headers={"Replay-Nonce": self._nonce()})
        self.order_status = "valid"
        return self._json(self._order1())

    def app(self) -> web.Application:
        app = super().app()
        app.router.add_post("/acct/1", self.account)
        app.router.add_post("/acct/1/delegations", self.delegations)
        app.router.add_post("/delegation/1", self.delegation)
        app.router.add_post("/new-order", self.new_order)
        app.router.add_post("/o1", self.order1)
        app.router.add_post("/o1/finalize", self.finalize1)
        return app

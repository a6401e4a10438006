"""A tiny in-process ACME responder for unit tests of client *transport logic* only.

It checks what a strict CA checks about the JWS (signature, `url`, single-use nonces, `kid`
vs `jwk`) and can be told to reject nonces or to ask for `Retry-After` pauses. Protocol features
themselves are proven against the real `star_ca` in tests/integration/acme.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

from acme import jws
from josepy import encode_b64jose
from aiohttp import web
from aiohttp.test_utils import TestServer

PROBLEM = "application/problem+json"


@dataclass
class FakeAcme:
    """State of the fake CA; `url(path)` gives absolute URLs."""

    base: str = ""
    reject_nonces: int = 0
    order_polls_processing: int = 0
    retry_after: str | None = None
    nonces: set[str] = field(default_factory=set)
    seen: list[dict[str, Any]] = field(default_factory=list)
    poll_times: list[float] = field(default_factory=list)
    star_headers: dict[str, str] = field(default_factory=dict)
    star_body: bytes = b""
    account_key: Any = None

    def url(self, path: str) -> str:
        return self.base + path

    def _nonce(self) -> str:
        value = encode_b64jose(os.urandom(16))
        self.nonces.add(value)
        return value

    def _problem(self, status: int, short: str, detail: str) -> web.Response:
        doc = {"type": f"urn:ietf:params:acme:error:{short}", "detail": detail, "status": status}
        return web.Response(
            status=status,
            text=json.dumps(doc),
            content_type=PROBLEM,
            headers={"Replay-Nonce": self._nonce()},
        )

    def _json(self, doc: Any, status: int = 200, **headers: str) -> web.Response:
        headers = {"Replay-Nonce": self._nonce(), **headers}
        return web.json_response(doc, status=status, headers=headers)

    async def directory(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "newNonce": self.url("/nonce"),
                "newAccount": self.url("/acct"),
                "newOrder": self.url("/order"),
                "meta": {"auto-renewal": {"min-lifetime": 60, "max-duration": 3600}},
            }
        )

    async def new_nonce(self, request: web.Request) -> web.Response:
        headers = {"Replay-Nonce": self._nonce(), "Cache-Control": "no-store"}
        return web.Response(status=200, headers=headers)

    async def _verify(self, request: web.Request) -> tuple[dict[str, Any], Any] | web.Response:
        """Check the JWS like a strict CA; return (protected header, payload) or a problem."""
        signed = jws.JWS.json_loads(await request.text())
        header = signed.signature.combined
        nonce = encode_b64jose(header.nonce)
        if nonce not in self.nonces:
            return self._problem(400, "badNonce", f"unknown or reused nonce {nonce}")
        self.nonces.discard(nonce)
        if self.reject_nonces > 0:
            self.reject_nonces -= 1
            return self._problem(400, "badNonce", "rejected on purpose")
        if header.url != str(request.url):
            return self._problem(400, "unauthorized", f"url {header.url} != {request.url}")
        jwk = header.jwk if header.jwk is not None else self.account_key
        if not signed.verify(jwk):
            return self._problem(400, "malformed", "bad signature")
        record = {
            "path": request.path,
            "kid": header.kid,
            "has_jwk": header.jwk is not None,
            "alg": header.alg.name,
        }
        self.seen.append(record)
        if header.jwk is not None:
            self.account_key = header.jwk
        payload = json.loads(signed.payload) if signed.payload else None
        return record, payload

    async def new_account(self, request: web.Request) -> web.Response:
        checked = await self._verify(request)
        if isinstance(checked, web.Response):
            return checked
        return self._json({"status": "valid"}, 201, Location=self.url("/acct/1"))

    async def order(self, request: web.Request) -> web.Response:
        checked = await self._verify(request)
        if isinstance(checked, web.Response):
            return checked
        self.poll_times.append(time.monotonic())
        if self.order_polls_processing > 0:
            self.order_polls_processing -= 1
            extra = {"Retry-After": self.retry_after} if self.retry_after else {}
            return self._json({"status": "processing"}, **extra)
        return self._json({"status": "valid", "star-certificate": self.url("/star")})

    async def star(self, request: web.Request) -> web.Response:
        if not self.star_body:
            return self._problem(403, "autoRenewalCanceled", "order canceled")
        return web.Response(
            body=self.star_body,
            headers=self.star_headers,
            content_type="application/pem-certificate-chain",
        )

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/directory", self.directory)
        app.router.add_route("HEAD", "/nonce", self.new_nonce)
        app.router.add_post("/acct", self.new_account)
        app.router.add_post("/order/1", self.order)
        app.router.add_get("/star", self.star)
        return app


async def start(fake: FakeAcme) -> TestServer:
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    fake.base = str(server.make_url("")).rstrip("/")
    return server

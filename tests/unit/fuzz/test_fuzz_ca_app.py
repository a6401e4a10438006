"""Property-based fuzzing of star-ca's real aiohttp application, in-process (aiohttp's test
server over ``make_app`` and ``build_services`` with a temporary data directory): junk bodies,
validly signed junk payloads, JWS with junk protected headers and mutated CSRs at finalize.
The property is the one a client sees: status below 500 and a JSON problem document for every
refusal. The middleware turns any unexpected exception into a 500 serverInternal, so a crash
anywhere behind the routes fails these tests.

Only the CAA lookup is replaced (finalize would otherwise need a DNS server): it is not a
parser and is tested against real BIND in tests/integration/star_ca."""
from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import josepy as jose
import pytest
from acme import jws as acme_jws
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives.asymmetric import ec
from fuzz_strategies import (BAD_UTF8_COMMON_NAME, BIT_STRING_COMMON_NAME, FUZZ, b64url_junk,
                             csr_der, json_values)
from hypothesis import event, example, given
from hypothesis import strategies as st

from star_ca import links
from star_ca.config import Config
from star_ca.db import Authz, Order
from star_ca.lifecycle import new_id
from star_ca.server import build_services
from star_ca.services import Services
from star_ca.wfe.app import make_app

pytestmark = pytest.mark.timeout(60)  # a hang fails fast, not at the suite's 300 s

BASE = "http://ca.fuzz"
JOSE = "application/jose+json"
NAMES = ["a.star.test", "b.star.test"]


class NoCaa:
    """CAA permits everything: the lookup needs DNS and is not what is fuzzed here."""

    async def subproblems(self, methods: Any, account_uri: str) -> list[dict[str, Any]]:
        return []


@dataclasses.dataclass
class InProcessCa:
    """The app on its own event loop, driven synchronously so hypothesis can call it."""

    loop: asyncio.AbstractEventLoop
    client: TestClient[Any, Any]
    services: Services
    key: jose.JWKEC
    kid: str = ""

    def post(self, path: str, body: bytes) -> tuple[int, str, Any]:
        async def go() -> tuple[int, str, Any]:
            r = await self.client.post(path, data=body, headers={"Content-Type": JOSE,
                                                                 "Host": "ca.fuzz"})
            text = await r.text()
            return r.status, r.content_type, json.loads(text) if text else None
        return self.loop.run_until_complete(asyncio.wait_for(go(), 30))

    def signed(self, path: str, payload: bytes, *, kid: bool = True) -> dict[str, Any]:
        nonce = jose.decode_b64jose(self.services.nonces.new())
        jws = acme_jws.JWS.sign(payload, key=self.key, alg=jose.ES256, nonce=nonce,
                                url=BASE + path, kid=self.kid if kid else None)
        return dict(jws.to_partial_json())

    def ready_order(self) -> tuple[str, str]:
        """A fresh order of NAMES whose authorizations are valid, written straight to the
        store (validation is not what is fuzzed): its path and its first authz's path."""
        now, store = time.time(), self.services.store
        account = self.kid.rsplit("/", 1)[1]
        order = Order(new_id(), account, "pending", now + 3600, list(NAMES), None, None, BASE,
                      None, None)
        authzs = [Authz(new_id(), account, order.id, n, False, "valid", now + 3600, "dns-01")
                  for n in NAMES]
        self.loop.run_until_complete(store.create_order(order, authzs, [], now))
        return links.ORDER + order.id, links.AUTHZ + authzs[0].id


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessCa]:
    loop = asyncio.new_event_loop()
    services, _ = loop.run_until_complete(build_services(
        Config(data_dir=Path(tmp_path_factory.mktemp("ca")), base_url=BASE)))
    services = dataclasses.replace(services, caa=NoCaa())  # type: ignore[arg-type]
    client: TestClient[Any, Any] = TestClient(TestServer(make_app(services)), loop=loop)
    loop.run_until_complete(client.start_server())
    ca = InProcessCa(loop, client, services, jose.JWKEC(key=ec.generate_private_key(
        ec.SECP256R1())))
    try:
        status, _, doc = ca.post(links.NEW_ACCOUNT, json.dumps(ca.signed(
            links.NEW_ACCOUNT, b'{"termsOfServiceAgreed": true}', kid=False)).encode())
        assert status == 201, doc
        account = loop.run_until_complete(services.store.account_by_thumbprint(
            jose.encode_b64jose(ca.key.thumbprint())))
        assert account is not None
        ca.kid = BASE + links.ACCOUNT + account.id
        yield ca
    finally:
        loop.run_until_complete(client.close())
        loop.run_until_complete(services.store.close())
        loop.close()


def assert_no_5xx(status: int, content_type: str, doc: Any) -> None:
    assert status < 500, doc
    if status >= 400:
        assert content_type == "application/problem+json"
        assert isinstance(doc, dict) and doc["type"].startswith("urn:ietf:params:acme:error:")
    event(f"HTTP {status}")


PATHS = [links.NEW_ACCOUNT, links.NEW_ORDER, links.REVOKE_CERT, links.KEY_CHANGE,
         links.ORDER + "x", links.ORDER + "x/finalize", links.AUTHZ + "x", links.CERT + "x",
         links.ACCOUNT + "x"]
paths = st.sampled_from(PATHS)


@FUZZ
@given(paths, st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()))
def test_junk_bodies_get_problem_documents(ca: InProcessCa, path: str, body: bytes) -> None:
    assert_no_5xx(*ca.post(path, body))


headers = st.dictionaries(st.sampled_from(["alg", "jwk", "kid", "nonce", "url", "crit", "x"]),
                          json_values | b64url_junk, max_size=4)


@FUZZ
@given(paths, headers, st.booleans())
def test_junk_protected_headers_are_refused(ca: InProcessCa, path: str,
                                            junk: dict[str, Any], keep_rest: bool) -> None:
    """A correctly signed request whose protected header is then changed: every header member
    can be junk, so kid lookup, jwk parsing and nonce checks all see hostile values."""
    jws = ca.signed(path, b"{}")
    header = json.loads(jose.decode_b64jose(jws["protected"])) if keep_rest else {}
    jws["protected"] = jose.encode_b64jose(json.dumps(header | junk).encode())
    assert_no_5xx(*ca.post(path, json.dumps(jws).encode()))


ORDER_PAYLOADS = st.fixed_dictionaries({
    "identifiers": st.lists(st.fixed_dictionaries({
        "type": st.just("dns") | json_values,
        "value": st.sampled_from(NAMES + ["*.a.star.test", "1.2.3.4"]) | json_values}),
        max_size=3) | json_values}, optional={
    "auto-renewal": st.fixed_dictionaries({
        "end-date": st.just("2099-01-01T00:00:00Z") | json_values,
        "lifetime": st.integers(-10, 10**9) | json_values}) | json_values,
    "notBefore": json_values, "profile": json_values, "replaces": json_values | b64url_junk})


@FUZZ
@given(st.sampled_from(["new-order", "order", "authz", "finalize"]), ORDER_PAYLOADS | json_values)
def test_signed_junk_payloads_are_refused(ca: InProcessCa, target: str, payload: Any) -> None:
    """Validly signed by the account, so the payload reaches the resource's own parsing."""
    order, authz = ca.ready_order()
    path = {"new-order": links.NEW_ORDER, "order": order, "authz": authz,
            "finalize": order + "/finalize"}[target]
    body = json.dumps(ca.signed(path, json.dumps(payload).encode())).encode()
    assert_no_5xx(*ca.post(path, body))


@FUZZ
@example(BAD_UTF8_COMMON_NAME, True)
@example(BIT_STRING_COMMON_NAME, True)
@given(csr_der(names=st.sampled_from(NAMES), sans=st.just(NAMES) | st.lists(
    st.sampled_from(NAMES), max_size=2)) | st.binary(max_size=80), st.booleans())
def test_finalize_with_mutated_csrs(ca: InProcessCa, der: bytes, as_b64: bool) -> None:
    path = ca.ready_order()[0] + "/finalize"
    csr: Any = jose.encode_b64jose(der) if as_b64 else der.decode("latin-1")
    body = json.dumps(ca.signed(path, json.dumps({"csr": csr}).encode())).encode()
    assert_no_5xx(*ca.post(path, body))

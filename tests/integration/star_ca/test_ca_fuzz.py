"""Garbage in, problem documents out: no 5xx and no crash for junk bodies, junk JSON shapes
and validly signed junk payloads on every endpoint."""
from __future__ import annotations

import json
import random
from typing import Any

from ca_testclient import Client

JUNK_BODIES: list[bytes] = [
    b"", b"null", b"[]", b"{}", b'"x"', b"1e999", b"\xff\xfe\x00", b'{"protected": 1}',
    b'{"protected":"", "payload":"", "signature":""}',
    b'{"protected":"!!!", "payload":"e30", "signature":"AA"}',
    b'{"protected":"e30", "payload":"e30", "signature":"AA"}',
    b'{"protected":"eyJhbGciOiJFUzI1NiJ9", "payload":"e30", "signature":"AA"}',
    json.dumps({"protected": "eyJhbGciOiJFUzI1NiIsImp3ayI6eyJrdHkiOiJFQyJ9fQ",
                "payload": "", "signature": ""}).encode(),
    b"[" * 5000, b'{"a":' * 2000,
]
JUNK_PAYLOADS: list[Any] = [
    [], "x", 1, None, {"identifiers": "x"}, {"identifiers": [1]}, {"identifiers": [{}]},
    {"csr": 5}, {"csr": "!!"}, {"status": []}, {"contact": "x"}, {"certificate": {}},
    {"auto-renewal": []}, {"auto-renewal": {"end-date": 1, "lifetime": 1.5}},
    {"identifiers": [{"type": "dns", "value": "a.star.test"}],
     "auto-renewal": {"end-date": "9999-99-99", "lifetime": True}},
    {"account": 1, "oldKey": "x"}, {"protected": "e30", "payload": "e30", "signature": "AA"},
]


def test_garbage_never_crashes(ca: Any, client: Client) -> None:
    order = client.new_order(["fuzz.star.test"])
    targets = [client.directory[k] for k in ("newAccount", "newOrder", "revokeCert",
                                             "keyChange")]
    targets += [client.kid, client.kid + "/orders", order.headers["Location"],
                order.json()["finalize"], order.json()["authorizations"][0],
                ca.base_url + "/acme/star/nope", ca.base_url + "/acme/cert/nope"]
    rng = random.Random(8739)
    bodies = JUNK_BODIES + [bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 300)))
                            for _ in range(20)]
    for url in targets:
        for body in bodies:
            r = client.post_raw(url, body)
            assert 400 <= r.status_code < 500, (url, body, r.status_code, r.text)
            assert r.headers["Content-Type"] == "application/problem+json"
        for payload in JUNK_PAYLOADS:
            r = client.post(url, payload, kid=client.kid)
            assert r.status_code < 500, (url, payload, r.text)
    assert client.http.get(client.directory["newNonce"]).status_code == 204

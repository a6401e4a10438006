"""Directory, nonces, accounts, keyChange, and strict request handling: every bad input gets
its RFC 8555 problem document (never a 5xx), every answer to a POST carries Replay-Nonce, and
every answer Link rel=index."""
from __future__ import annotations

import json
from typing import Any

import josepy as jose
import pytest
import requests
from acme import jws as acme_jws
from ca_testclient import Client, ec_key, raw_sign
from cryptography.hazmat.primitives.asymmetric import ec, rsa

ERR = "urn:ietf:params:acme:error:"


def _problem(r: requests.Response, type_: str, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"] == "application/problem+json"
    doc = r.json()
    assert doc["type"] == ERR + type_, doc
    assert doc["status"] == status
    return dict(doc)


def _common_headers(r: requests.Response) -> None:
    assert r.headers.get("Replay-Nonce")
    assert 'rel="index"' in r.headers.get("Link", "")


def test_directory_meta(ca: Any, client: Client) -> None:
    d = client.directory
    for key in ("newNonce", "newAccount", "newOrder", "revokeCert", "keyChange"):
        assert d[key].startswith(ca.base_url)
    assert d["meta"]["caaIdentities"] == ["star-ca.test"]
    assert d["meta"]["auto-renewal"] == {"min-lifetime": 1, "max-duration": 3600,
                                         "allow-certificate-get": True}


def test_new_nonce(client: Client) -> None:
    head = client.http.head(client.directory["newNonce"])
    get = client.http.get(client.directory["newNonce"])
    assert (head.status_code, get.status_code) == (200, 204)
    for r in (head, get):
        assert r.headers["Cache-Control"] == "no-store"
        _common_headers(r)
    assert head.headers["Replay-Nonce"] != get.headers["Replay-Nonce"]


def test_account_lifecycle(new_client: Any) -> None:
    c = new_client(register=False)
    missing = c.post(c.directory["newAccount"], {"onlyReturnExisting": True}, kid=None)
    _problem(missing, "accountDoesNotExist", 400)
    created = c.register(contact=["mailto:dno@example.test"])
    assert created.status_code == 201 and created.headers["Location"]
    assert created.json()["contact"] == ["mailto:dno@example.test"]
    again = c.register()
    assert again.status_code == 200 and again.headers["Location"] == created.headers["Location"]
    existing = c.post(c.directory["newAccount"], {"onlyReturnExisting": True}, kid=None)
    assert existing.status_code == 200
    updated = c.post(c.kid, {"contact": ["mailto:new@example.test"]})
    assert updated.json()["contact"] == ["mailto:new@example.test"]
    _problem(c.post(c.kid, {"contact": ["tel:+1"]}), "unsupportedContact", 400)
    _problem(c.post(c.kid, {"contact": ["mailto:a@b@c"]}), "invalidContact", 400)
    assert c.post(c.kid, {"status": "deactivated"}).json()["status"] == "deactivated"
    _problem(c.post(c.kid), "unauthorized", 403)


def test_key_change(client: Client, new_client: Any) -> None:
    url = client.directory["keyChange"]
    new_key = ec_key()
    inner = acme_jws.JWS.sign(
        json.dumps({"account": client.kid,
                    "oldKey": client.key.public_key().to_partial_json()}).encode(),
        key=new_key, alg=jose.ES256, nonce=None, url=url)
    r = client.post(url, inner.to_partial_json())
    assert r.status_code == 200, r.text
    old = client.key
    client.key = new_key
    assert client.post(client.kid).status_code == 200
    client.key = old
    _problem(client.post(client.kid), "malformed", 400)  # old key no longer verifies
    # a key already in use by another account: 409 with its Location
    other = new_client()
    client.key = new_key
    inner = acme_jws.JWS.sign(
        json.dumps({"account": client.kid,
                    "oldKey": new_key.public_key().to_partial_json()}).encode(),
        key=other.key, alg=jose.ES256, nonce=None, url=url)
    conflict = client.post(url, inner.to_partial_json())
    assert conflict.status_code == 409 and conflict.headers["Location"] == other.kid


def test_jws_rejections(client: Client) -> None:
    url = client.directory["newOrder"]
    payload = {"identifiers": [{"type": "dns", "value": "x.star.test"}]}
    good = client.jws(url, payload)

    tampered = dict(good, signature=good["signature"][:-4] + "AAAA")
    _problem(client.post_raw(url, json.dumps(tampered)), "malformed", 400)

    nonce = client.nonce()
    assert client.post(url, payload, nonce=nonce).status_code == 201
    _problem(client.post(url, payload, nonce=nonce), "badNonce", 400)  # replay
    _problem(client.post(url, payload, nonce="bm90LWEtbm9uY2U"), "badNonce", 400)  # unknown
    _problem(client.post_raw(url, json.dumps(client.jws(client.directory["newAccount"],
                                                        payload))), "unauthorized", 403)

    header = json.loads(jose.decode_b64jose(good["protected"]))
    for alg in ("none", "HS256"):
        forged = dict(good, protected=jose.encode_b64jose(
            json.dumps({**header, "alg": alg, "nonce": client.nonce()}).encode()))
        doc = _problem(client.post_raw(url, json.dumps(forged)), "badSignatureAlgorithm", 400)
        assert "ES256" in doc["algorithms"]
    hmac = raw_sign(b"{}", jose.JWKOct(key=b"k" * 32), jose.HS256, include_jwk=False,
                    nonce=jose.decode_b64jose(client.nonce()), url=url, kid=client.kid)
    _problem(client.post_raw(url, hmac), "badSignatureAlgorithm", 400)

    both = raw_sign(json.dumps(payload).encode(), client.key, jose.ES256, include_jwk=True,
                    nonce=jose.decode_b64jose(client.nonce()), url=url, kid=client.kid)
    _problem(client.post_raw(url, both), "malformed", 400)

    p384 = jose.JWKEC(key=ec.generate_private_key(ec.SECP384R1()))
    _problem(client.post(client.directory["newAccount"], {}, key=p384, kid=None, alg=jose.ES256),
             "badSignatureAlgorithm", 400)
    _problem(client.post(url, payload, kid=client.kid + "x"), "accountDoesNotExist", 400)
    _problem(client.post(url, payload, kid=None), "malformed", 400)  # newOrder needs kid

    general = {"payload": good["payload"], "signatures": [
        {"protected": good["protected"], "signature": good["signature"]}]}
    _problem(client.post_raw(url, json.dumps(general)), "malformed", 400)
    _problem(client.post_raw(url, json.dumps({**good, "header": {}})), "malformed", 400)
    _problem(client.post_raw(url, json.dumps(good), "application/json"), "malformed", 415)
    _problem(client.post_raw(url, b"{not json"), "malformed", 400)
    _problem(client.post_raw(url, b"x" * (65 * 1024)), "malformed", 413)


def test_weak_account_key(new_client: Any) -> None:
    weak = jose.JWKRSA(key=rsa.generate_private_key(65537, 1024))
    c = new_client(register=False, key=weak)
    _problem(c.post(c.directory["newAccount"], {}, kid=None), "badPublicKey", 400)


def test_rsa_account_works(new_client: Any) -> None:
    c = new_client(register=False, key=jose.JWKRSA(key=rsa.generate_private_key(65537, 2048)))
    assert c.register().status_code == 201


@pytest.mark.parametrize("identifiers, type_", [
    ([{"type": "ip", "value": "127.0.0.1"}], "unsupportedIdentifier"),
    ([{"type": "dns", "value": "bad_name.star.test"}], "rejectedIdentifier"),
    ([{"type": "dns", "value": "a.*.star.test"}], "rejectedIdentifier"),
])
def test_bad_identifiers(client: Client, identifiers: list[dict[str, str]], type_: str) -> None:
    r = client.post(client.directory["newOrder"], {"identifiers": identifiers})
    doc = _problem(r, type_, 400)
    assert doc["subproblems"][0]["identifier"]["value"] == identifiers[0]["value"]


def test_every_post_answer_has_nonce_and_every_answer_index(client: Client) -> None:
    for r in (client.post_raw(client.directory["newOrder"], b"junk"),
              client.post_raw(client.directory["newNonce"].replace("new-nonce", "nope"), b"{}"),
              client.post(client.kid)):
        _common_headers(r)
        assert r.status_code < 500
    for r in (client.http.get(client.directory["newOrder"]),
              client.http.get(client.directory["newNonce"].replace("new-nonce", "nope")),
              client.http.get(client.directory_url)):
        assert "Replay-Nonce" not in r.headers, r.headers
        assert 'rel="index"' in r.headers.get("Link", "")
        assert r.status_code < 500

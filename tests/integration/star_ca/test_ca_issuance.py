"""RFC 8555 issuance against the real CA over HTTPS: http-01 and dns-01 validated for real
(BIND 9 + a loopback http-01 responder), finalize checks, download, revocation, orders list."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import josepy as jose
from ca_testclient import Client, make_csr, wait, weak_rsa_key
from cryptography import x509
from cryptography.hazmat.primitives import serialization

PROBLEM = "application/problem+json"
ERR = "urn:ietf:params:acme:error:"


def _ready_order(client: Client, names: list[str], kind: str,
                 present: Callable[[str, str, str], None]) -> str:
    return client.ready_order(names, kind, present)[0]


def test_http01_issuance_and_download(ca: Any, client: Client, host: Callable[[str], str],
                                      http01_present: Any) -> None:
    names = [host("a"), host("b")]
    order_url = _ready_order(client, names, "http-01", http01_present)
    csr, key = make_csr(names)
    r = client.finalize(order_url, csr)
    assert r.status_code == 200, r.text
    order = r.json()
    assert order["status"] == "valid" and "star-certificate" not in order
    cert = client.post(order["certificate"])
    assert cert.status_code == 200
    assert cert.headers["Content-Type"] == "application/pem-certificate-chain"
    chain = x509.load_pem_x509_certificates(cert.content)
    assert len(chain) == 2
    leaf = chain[0]
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(san.get_values_for_type(x509.DNSName)) == sorted(names)
    assert leaf.public_key().public_numbers() == key.public_key().public_numbers()
    root = x509.load_pem_x509_certificate(ca.root_pem_path.read_bytes())
    leaf.verify_directly_issued_by(chain[1])
    chain[1].verify_directly_issued_by(root)
    # orders list
    acct = client.get(client.kid)
    assert order_url in client.get(acct["orders"])["orders"]


def test_wildcard_dns01(client: Client, dns01_present: Any) -> None:
    from ca_testclient import unique
    base = unique("w")
    names = [f"*.{base}", base]
    r = client.new_order(names)
    assert r.status_code == 201
    authzs = [client.get(u) for u in r.json()["authorizations"]]
    wild = [a for a in authzs if a.get("wildcard")]
    assert len(wild) == 1 and wild[0]["identifier"]["value"] == base
    assert [c["type"] for c in wild[0]["challenges"]] == ["dns-01"]
    order_url = r.headers["Location"]
    client.authorize(r.json(), "dns-01", dns01_present)
    wait(lambda: client.get(order_url)["status"] == "ready", what="order ready")
    r = client.finalize(order_url, make_csr(names)[0])
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "valid"


def test_failed_http01_invalidates(client: Client, host: Callable[[str], str]) -> None:
    r = client.new_order([host("fail")])
    order_url = r.headers["Location"]
    authz = client.get(r.json()["authorizations"][0])
    ch = next(c for c in authz["challenges"] if c["type"] == "http-01")
    client.post(ch["url"], {})  # responder has no such token: 404
    wait(lambda: client.get(order_url)["status"] == "invalid", what="order invalid")
    ch = client.get(ch["url"])
    assert ch["status"] == "invalid" and ch["error"]["type"] == ERR + "unauthorized"
    order = client.get(order_url)
    assert order["error"]["subproblems"][0]["identifier"]["value"] == authz["identifier"]["value"]


def test_finalize_checks(client: Client, host: Callable[[str], str], http01_present: Any) -> None:
    names = [host("f1"), host("f2")]
    r = client.new_order(names)
    early = client.post(r.json()["finalize"], {"csr": jose.encode_b64jose(make_csr(names)[0])})
    assert early.status_code == 403 and early.json()["type"] == ERR + "orderNotReady"
    order_url = _ready_order_from(client, r, http01_present)
    cases = {
        "extra name": make_csr(names + ["other.star.test"])[0],
        "missing name": make_csr(names[:1])[0],
        "weak key": make_csr(names, weak_rsa_key())[0],
        "garbage": b"not a csr",
    }
    for what, csr in cases.items():
        bad = client.finalize(order_url, csr)
        assert bad.status_code == 400, what
        assert bad.headers["Content-Type"] == PROBLEM
        assert bad.json()["type"] == ERR + "badCSR", (what, bad.text)
    assert "other.star.test" in client.finalize(order_url, cases["extra name"]).json()["detail"]
    assert client.finalize(order_url, make_csr(names)[0]).status_code == 200


def _ready_order_from(client: Client, r: Any, present: Any) -> str:
    order_url = r.headers["Location"]
    client.authorize(r.json(), "http-01", present)
    wait(lambda: client.get(order_url)["status"] == "ready", what="order ready")
    return str(order_url)


def _issue(client: Client, host: Callable[[str], str], present: Any) -> tuple[bytes, Any]:
    names = [host("r")]
    order_url = _ready_order(client, names, "http-01", present)
    csr, key = make_csr(names)
    order = client.finalize(order_url, csr).json()
    pem = client.post(order["certificate"]).content
    der = x509.load_pem_x509_certificates(pem)[0].public_bytes(serialization.Encoding.DER)
    return der, key


def test_revoke_with_account_key(client: Client, new_client: Any, host: Any,
                                 http01_present: Any) -> None:
    der, _ = _issue(client, host, http01_present)
    url = client.directory["revokeCert"]
    payload = {"certificate": jose.encode_b64jose(der), "reason": 1}
    other = new_client()
    assert other.post(url, payload).status_code == 403
    bad_reason = client.post(url, {**payload, "reason": 7})
    assert bad_reason.json()["type"] == ERR + "badRevocationReason"
    assert client.post(url, payload).status_code == 200
    again = client.post(url, payload)
    assert again.status_code == 400 and again.json()["type"] == ERR + "alreadyRevoked"


def test_revoke_with_certificate_key(client: Client, host: Any, http01_present: Any) -> None:
    der, key = _issue(client, host, http01_present)
    url = client.directory["revokeCert"]
    cert_jwk = jose.JWKEC(key=key)
    r = client.post(url, {"certificate": jose.encode_b64jose(der)}, key=cert_jwk, kid=None)
    assert r.status_code == 200, r.text


def test_other_account_cannot_read(client: Client, new_client: Any, host: Any) -> None:
    r = client.new_order([host("own")])
    other = new_client()
    for url in (r.headers["Location"], r.json()["authorizations"][0]):
        denied = other.post(url)
        assert denied.status_code == 403 and denied.json()["type"] == ERR + "unauthorized"


def test_challenge_answer_carries_a_quick_outcome(client: Client, dns01_present: Any) -> None:
    """A dns-01 check that ends within the CA's short bound is answered in the challenge POST
    itself (valid, with ``validated``), and the order is ready at the first look: no poll."""
    from ca_testclient import dns01_value, unique
    name = unique("quick")
    r = client.new_order([name])
    order_url, authz_url = r.headers["Location"], r.json()["authorizations"][0]
    ch = next(c for c in client.get(authz_url)["challenges"] if c["type"] == "dns-01")
    dns01_present(name, ch["token"], dns01_value(ch["token"], client.key))
    answer = client.post(ch["url"], {})
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "valid" and "validated" in answer.json()
    assert "Retry-After" not in answer.headers
    assert client.get(authz_url)["status"] == "valid"
    assert client.get(order_url)["status"] == "ready"

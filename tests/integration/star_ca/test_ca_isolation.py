"""Account isolation at the CA (issue #16): an account can read, answer, finalize, cancel and
revoke only what it ordered itself. test_ca_issuance, test_ca_star and test_ca_protocol cover
reading another's order and authorization, cancelling another's STAR order and a keyChange to
another's key; this module covers the rest of the surface in one order's life, and checks that
each refusal left the owner's objects exactly as they were."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import josepy as jose
import requests
from ca_testclient import Client, make_csr, wait
from cryptography import x509
from cryptography.hazmat.primitives import serialization

ERR = "urn:ietf:params:acme:error:"


def _refused(r: requests.Response, what: str) -> None:
    """Refused as RFC 8555 §6.3 wants for another account's resource: an unauthorized
    problem, and no part of the resource in the body."""
    assert r.status_code == 403, f"{what}: {r.status_code} {r.text}"
    doc = r.json()
    assert doc["type"] == ERR + "unauthorized", f"{what}: {doc}"
    assert set(doc) == {"type", "detail", "status"} and "BEGIN CERTIFICATE" not in r.text


def test_another_account_gets_nothing_of_an_order(
        client: Client, new_client: Callable[..., Client], host: Callable[[str], str],
        http01_present: Any) -> None:
    owner, intruder = client, new_client()
    names = [host("iso")]
    created = owner.new_order(names)
    assert created.status_code == 201, created.text
    order_url, authz_url = created.headers["Location"], created.json()["authorizations"][0]
    ch_url = owner.get(authz_url)["challenges"][0]["url"]

    for url, payload, what in [
            (order_url, None, "POST-as-GET of the order"),
            (authz_url, None, "POST-as-GET of the authorization"),
            (ch_url, None, "POST-as-GET of the challenge"),
            (ch_url, {}, "answering the challenge"),
            (authz_url, {"status": "deactivated"}, "deactivating the authorization"),
            (owner.kid, None, "reading the account"),
            (f"{owner.kid}/orders", None, "listing the account's orders")]:
        _refused(intruder.post(url, payload), what)
    # the owner's account key, named by the owner's kid but signed by the intruder: no match
    forged = intruder.post(order_url, kid=owner.kid)
    assert forged.status_code == 400 and forged.json()["type"] == ERR + "malformed"
    assert owner.get(ch_url)["status"] == "pending"
    assert owner.get(authz_url)["status"] == "pending"

    owner.authorize(created.json(), "http-01", http01_present)
    wait(lambda: owner.get(order_url)["status"] == "ready", what="order ready")
    csr, _ = make_csr(names)
    finalize_url = owner.get(order_url)["finalize"]
    _refused(intruder.post(finalize_url, {"csr": jose.encode_b64jose(csr)}), "finalizing")
    _refused(intruder.post(order_url, {"status": "canceled"}), "cancelling")
    assert owner.get(order_url)["status"] == "ready"
    assert owner.get(f"{owner.kid}/orders")["orders"] == [order_url]
    assert order_url not in intruder.get(f"{intruder.kid}/orders")["orders"]

    final = owner.finalize(order_url, csr)
    assert final.status_code == 200 and final.json()["status"] == "valid", final.text
    cert_url = final.json()["certificate"]
    _refused(intruder.post(cert_url), "POST-as-GET of the certificate")
    pem = owner.post(cert_url)
    assert pem.status_code == 200
    der = x509.load_pem_x509_certificates(pem.content)[0].public_bytes(
        serialization.Encoding.DER)
    revoke_url = owner.directory["revokeCert"]
    payload = {"certificate": jose.encode_b64jose(der), "reason": 4}
    _refused(intruder.post(revoke_url, payload), "revoking with the intruder's account key")
    # not revoked by the attempt: the owner's own revocation is the first
    assert owner.post(revoke_url, payload).status_code == 200

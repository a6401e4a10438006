"""The front end's RFC 8555 account and certificate management against the real control
plane, operator, BIND 9 and star-ca, spoken to over HTTPS by the thin NDC: keyChange
(§7.3.5) keeps the account, its Delegations and its orders while the key moves in the
Delegations' status; the account's ``orders`` list comes a page at a time (§7.1.2.1, a front
end started with a page of 2); revokeCert (§7.6, RFC 9115 §2.3.6/§7.3) revokes an ordinary
certificate at star-ca with the DNO's account and refuses a STAR one.

Its own module (so its own namespace and front end) next to test_front_end.py, on the same
fixtures."""
from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from typing import Any

import josepy as jose
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from front_end_fixtures import (  # noqa: F401
    crds, delegation, dno_namespace, mac_key, operator_process, star_ca, star_env)
from ndc_client import Ndc, ec_jwk, wait_valid
from requests.utils import parse_header_links
from tests.integration.operator.op_delegated import cdn_request, spki, star_get
from tests.integration.operator.op_env import StarEnv, ca_revocations, get, wait_condition

from star_ca.star.autorenewal import rfc3339
from star_devenv.front_end import LocalFrontEnd
from star_devenv.kubectl import Kubectl

pytestmark = [pytest.mark.cluster, pytest.mark.dns]
PAGE = 2


@pytest.fixture(scope="module")
def front_end(control_plane: Any, dno_namespace: str) -> Iterator[LocalFrontEnd]:
    """front_end_fixtures' front end, started with ``--orders-page-size`` 2 (its environment
    default, which the subprocess inherits)."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("STAR_DELEGATION_ORDERS_PAGE_SIZE", str(PAGE))
        fe = LocalFrontEnd(control_plane.kubeconfig, dno_namespace)
        fe.__enter__()
    try:
        yield fe
    finally:
        fe.__exit__(None, None, None)


def der_b64(csr_pem: str) -> str:
    der = x509.load_pem_x509_csr(csr_pem.encode()).public_bytes(serialization.Encoding.DER)
    return base64.urlsafe_b64encode(der).decode().rstrip("=")


def thumb(key: jose.JWK) -> str:
    return jose.encode_b64jose(key.thumbprint())


def account_record(kubectl: Kubectl, ns: str, name: str) -> dict[str, Any]:
    return ((get(kubectl, "delegation", name, ns) or {}).get("status") or {}).get(
        "account") or {}


def grant(kubectl: Kubectl, ns: str, env: StarEnv, name: str, key_id: str,
          mac: str | None = None, wait: bool = True) -> str:
    """A Delegation allowing ordinary orders too, with its EAB Secret; returns the MAC key."""
    mac = mac or mac_key()
    delegation(kubectl, ns, name, env.template, key_id, mac,
               star={"allowOrdinary": True, "maxLifetime": "1h"})
    if wait:
        wait_condition(kubectl, "delegation", name, ns, status="True", timeout=60)
    return mac


def ordinary_certificate(ndc: Ndc, env: StarEnv, fe: LocalFrontEnd, grant: str,
                         host: str) -> tuple[str, dict[str, Any]]:
    """An ordinary (§2.3.3) Order1 finalized and valid: (order URL, Order1)."""
    new = ndc.post(ndc.directory["newOrder"], {
        "identifiers": [{"type": "dns", "value": host}],
        "delegation": f"{fe.base_url}/acme/delegation/{grant}", "allow-certificate-get": True})
    assert new.status == 201, new.text
    _, csr_pem = cdn_request(env, [host])
    assert ndc.post(new.body["finalize"], {"csr": der_b64(csr_pem)}).status == 200
    return new.headers["Location"], wait_valid(ndc, new.headers["Location"])


def test_key_change_keeps_the_account_its_delegations_and_orders(
        kubectl: Kubectl, star_env: StarEnv, dno_namespace: str,
        front_end: LocalFrontEnd) -> None:
    ns = dno_namespace
    # the same CDN granted two templates' use under one key id and MAC Secret
    mac = grant(kubectl, ns, star_env, "kc-one", "kc-key", wait=False)
    grant(kubectl, ns, star_env, "kc-two", "kc-key", mac, wait=False)
    kubectl.run("patch", "delegation", "kc-two", "-n", ns, "--type=merge", "-p",
                '{"spec":{"externalAccountBinding":{"hmacKeySecretRef":{"name":"kc-one-eab"}}}}')
    other_mac = grant(kubectl, ns, star_env, "kc-other", "kc-other-key")
    for name in ("kc-one", "kc-two"):
        wait_condition(kubectl, "delegation", name, ns, status="True", timeout=60)

    ndc = Ndc(front_end.directory_url, front_end.ca_pem)
    assert ndc.directory["keyChange"] == front_end.base_url + "/acme/key-change"
    assert ndc.register("kc-key", mac).status == 201
    account_url, old_key = ndc.kid, ndc.key
    listing = ndc.post(ndc.post(account_url).body["delegations"]).body["delegations"]
    assert listing == [f"{front_end.base_url}/acme/delegation/{n}" for n in ("kc-one", "kc-two")]
    host = f"kc-{ns}.{star_env.dns.zone}"
    order_url, order = ordinary_certificate(ndc, star_env, front_end, "kc-one", host)

    other = Ndc(front_end.directory_url, front_end.ca_pem)
    assert other.register("kc-other-key", other_mac).status == 201
    taken = ndc.change_key(other.key)
    assert (taken.status, taken.headers["Location"]) == (409, other.kid)
    bad = ndc.post(ndc.directory["keyChange"], ndc.key_change_body(ec_jwk(), old_key=ec_jwk()))
    assert (bad.status, bad.problem_type) == (400, "malformed")
    assert account_record(kubectl, ns, "kc-one")["thumbprint"] == thumb(old_key)

    new_key = ec_jwk()
    changed = ndc.change_key(new_key)
    assert (changed.status, changed.headers["Location"]) == (200, account_url), changed.text
    for name in ("kc-one", "kc-two"):  # in the Kubernetes objects, the id (URL) unchanged
        rec = account_record(kubectl, ns, name)
        assert (rec["thumbprint"], rec["url"]) == (thumb(new_key), account_url)
    assert account_record(kubectl, ns, "kc-other")["url"] == other.kid

    # the new key: same account, same grants, same order and certificate
    assert ndc.post(ndc.post(account_url).body["delegations"]).body["delegations"] == listing
    again = ndc.post(order_url)
    assert again.status == 200 and again.body["certificate"] == order["certificate"]
    cert = ndc.post(order["certificate"])
    assert cert.status == 200 and "BEGIN CERTIFICATE" in cert.text
    # the old key: nobody's, and it cannot come back as an account
    stale = Ndc(front_end.directory_url, front_end.ca_pem, key=old_key, kid=account_url)
    assert (stale.post(account_url).status, stale.post(order_url).problem_type) == \
        (400, "malformed")
    gone = stale.post(stale.directory["newAccount"], {"onlyReturnExisting": True},
                      use_jwk=True)
    assert gone.problem_type == "accountDoesNotExist"


def test_the_orders_list_comes_in_pages_linked_by_rel_next(
        kubectl: Kubectl, star_env: StarEnv, dno_namespace: str,
        front_end: LocalFrontEnd) -> None:
    ns = dno_namespace
    mac = grant(kubectl, ns, star_env, "pg-one", "pg-key")
    ndc = Ndc(front_end.directory_url, front_end.ca_pem)
    assert ndc.register("pg-key", mac).status == 201
    orders_url = ndc.post(ndc.kid).body["orders"]
    assert ndc.post(orders_url).body == {"orders": []}
    host = f"pg-{ns}.{star_env.dns.zone}"
    made = []
    for _ in range(4):  # pending Order1s, in the Delegation's status
        new = ndc.post(ndc.directory["newOrder"], {
            "identifiers": [{"type": "dns", "value": host}],
            "delegation": f"{front_end.base_url}/acme/delegation/pg-one",
            "allow-certificate-get": True})
        assert new.status == 201, new.text
        made.append(new.headers["Location"])
    finalized, _ = ordinary_certificate(ndc, star_env, front_end, "pg-one", host)  # a StarOrder
    made.append(finalized)

    pages, url = [], orders_url
    while url:
        answer = ndc.post(url)
        assert answer.status == 200 and set(answer.body) == {"orders"}, answer.text
        pages.append(answer.body["orders"])
        assert len(pages) <= 5, "the next links do not end"
        links = parse_header_links(answer.headers.get("Link", ""))
        assert any(link.get("rel") == "index" for link in links)
        url = next((link["url"] for link in links if link.get("rel") == "next"), None)
    assert [len(p) for p in pages] == [PAGE, PAGE, 1]
    assert [u for p in pages for u in p] == sorted(made)
    other = Ndc(front_end.directory_url, front_end.ca_pem)  # another account sees none of them
    other_mac = grant(kubectl, ns, star_env, "pg-two", "pg-two-key")
    assert other.register("pg-two-key", other_mac).status == 201
    assert other.post(other.post(other.kid).body["orders"]).body == {"orders": []}


def leaf_b64(leaf: x509.Certificate) -> str:
    return jose.encode_b64jose(leaf.public_bytes(serialization.Encoding.DER))


def test_revoke_cert_revokes_an_ordinary_certificate_upstream_and_refuses_a_star_one(
        kubectl: Kubectl, star_env: StarEnv, dno_namespace: str,
        front_end: LocalFrontEnd) -> None:
    ns = dno_namespace
    mac = grant(kubectl, ns, star_env, "rv-one", "rv-key")
    other_mac = grant(kubectl, ns, star_env, "rv-other", "rv-other-key")
    ndc = Ndc(front_end.directory_url, front_end.ca_pem)
    assert ndc.directory["revokeCert"] == front_end.base_url + "/acme/revoke-cert"
    assert ndc.register("rv-key", mac).status == 201
    other = Ndc(front_end.directory_url, front_end.ca_pem)
    assert other.register("rv-other-key", other_mac).status == 201
    url = ndc.directory["revokeCert"]

    host = f"rv-{ns}.{star_env.dns.zone}"
    order_url, order = ordinary_certificate(ndc, star_env, front_end, "rv-one", host)
    trust = type("E", (), {"root_pem": front_end.ca_pem})()
    code, leaf = star_get(trust, order["certificate"])  # the ordinary certificate, fetched
    assert code == 200 and leaf is not None
    serial = format(leaf.serial_number, "x")
    assert ca_revocations(star_env.ca)[serial] is None

    refused = other.post(url, {"certificate": leaf_b64(leaf)})  # not its certificate
    assert (refused.status, refused.problem_type) == (403, "unauthorized")
    junk = ndc.post(url, {"certificate": "bm90IGEgY2VydA"})
    assert (junk.status, junk.problem_type) == (400, "malformed")
    assert ca_revocations(star_env.ca)[serial] is None

    revoked = ndc.post(url, {"certificate": leaf_b64(leaf), "reason": 4})
    assert revoked.status == 200, revoked.text
    assert ca_revocations(star_env.ca)[serial] == 4  # at star-ca, by the operator
    again = ndc.post(url, {"certificate": leaf_b64(leaf), "reason": 4})
    assert (again.status, again.problem_type) == (400, "alreadyRevoked")
    assert ndc.post(order_url).body["status"] == "canceled"

    # a STAR certificate of the same account: refused with RFC 8739's type, not revoked
    star_host = f"rv-star-{ns}.{star_env.dns.zone}"
    new = ndc.post(ndc.directory["newOrder"], {
        "identifiers": [{"type": "dns", "value": star_host}],
        "delegation": f"{front_end.base_url}/acme/delegation/rv-one",
        "auto-renewal": {"end-date": rfc3339(time.time() + 3600), "lifetime": 600,
                         "allow-certificate-get": True}})
    assert new.status == 201, new.text
    key, csr_pem = cdn_request(star_env, [star_host])
    assert ndc.post(new.body["finalize"], {"csr": der_b64(csr_pem)}).status == 200
    star_url = wait_valid(ndc, new.headers["Location"])["star-certificate"]
    code, star_leaf = star_get(star_env, star_url)  # from the CA, as the CDN fetches it
    assert code == 200 and star_leaf is not None and spki(star_leaf) == spki(key)
    star_refused = ndc.post(url, {"certificate": leaf_b64(star_leaf)})
    assert (star_refused.status, star_refused.problem_type) == \
        (403, "autoRenewalRevocationNotSupported")
    assert ca_revocations(star_env.ca)[format(star_leaf.serial_number, "x")] is None
    assert ndc.post(new.headers["Location"], {"status": "canceled"}).status == 200

"""The front end's messages checked against RFC 9115's own examples (§2.3.1-2.3.3, the
delegation configuration object of its CSR-template directory), field by field: the RFC's
request bodies are sent as they stand (dates moved into the future, host names the RFC's), and
each answer must have exactly the members of the RFC's corresponding figure, with the RFC's
values where the RFC fixes them. The account behind it is set up as RFC 8555 §7.3.4 says.

A :class:`FakeCluster` stands in for Kubernetes (what the operator would write into the
StarOrder is written by the test); the server, HTTPS and JWS are the real ones."""
from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from star_operator import constants as c
from star_operator.csr_template import DomainPolicy, generate_key_and_csr, load_template
from tests.integration.delegation.ndc_client import Ndc
from tests.unit.delegation.fake_cluster import FakeCluster
from tests.unit.delegation.served import serve

# RFC 9115 §2.3.1.3, Figure 3 (CSR-template/example-configuration-object.json).
RFC_DELEGATION_OBJECT = {
    "csr-template": {
        "keyTypes": [{"PublicKeyType": "id-ecPublicKey", "namedCurve": "secp256r1",
                      "SignatureType": "ecdsa-with-SHA256"}],
        "subject": {"country": "CA", "stateOrProvince": "**", "locality": "**"},
        "extensions": {"subjectAltName": {"DNS": ["abc.ido.example"]},
                       "keyUsage": ["digitalSignature"], "extendedKeyUsage": ["serverAuth"]}},
    "cname-map": {"abc.ido.example.": "abc.ndc.example."},
}
# RFC 9115 §2.3.1.1, Figure 1: the members of the account object.
RFC_ACCOUNT_MEMBERS = {"status", "contact", "termsOfServiceAgreed", "orders", "delegations"}
# §2.3.2, Figures 5 and 6: Order1 created, and after Order2 is valid.
RFC_STAR_ORDER_MEMBERS = {"status", "expires", "identifiers", "auto-renewal", "delegation",
                          "authorizations", "finalize"}
# §2.3.3, Figures 8 and 9: the non-STAR Order1.
RFC_ORDINARY_ORDER_MEMBERS = {"status", "expires", "identifiers", "delegation",
                              "allow-certificate-get", "authorizations", "finalize"}
CA_STAR_URL = "https://acme.ca.example/acme/order/yTr23sSDg9"  # Figure 6's star-certificate
MAC = base64.urlsafe_b64encode(b"k" * 32).decode().rstrip("=")


def future(days: int) -> str:
    when = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=days)
    return when.replace(hour=0, minute=0, second=0, microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def dno_cluster() -> FakeCluster:
    cluster = FakeCluster()
    cluster.put(c.CSRTEMPLATE_KIND, {"metadata": {"name": "ido"}, "spec": {
        "template": RFC_DELEGATION_OBJECT["csr-template"], "domains": ["ido.example"],
        "allowedNamespaces": ["*"], "star": {"minLifetime": "1h", "maxLifetime": "7d",
                                             "maxDuration": "365d"},
        "acme": {"directoryURL": "https://acme.ca.example/directory",
                 "accountKeySecretRef": {"name": "acct"}},
        "dns01": {"rfc2136": {"nameserver": "192.0.2.53", "tsigSecretSecretRef": {
            "name": "tsig"}}}}})
    cluster.put("Secret", {"metadata": {"name": "gm0wfLYHBen-eab"},
                           "data": {"hmacKey": base64.b64encode(MAC.encode()).decode()}})
    cluster.put(c.DELEGATION_KIND, {"metadata": {"name": "gm0wfLYHBen"}, "spec": {
        "csrTemplateName": "ido", "cnameMap": RFC_DELEGATION_OBJECT["cname-map"],
        "star": {"maxLifetime": "7d", "maxDuration": "365d", "allowOrdinary": True},
        "externalAccountBinding": {"keyID": "ndc-key", "hmacKeySecretRef": {
            "name": "gm0wfLYHBen-eab", "key": "hmacKey"}}}})
    return cluster


@pytest.fixture
def ndc(tmp_path: Path) -> Any:
    cluster = dno_cluster()
    with serve(cluster, tmp_path) as base:
        client = Ndc(base + "/directory", (tmp_path / "tls.crt").read_text())
        client.cluster = cluster  # type: ignore[attr-defined]
        client.base = base  # type: ignore[attr-defined]
        yield client


def csr_b64() -> str:
    """The NDC's CSR for the RFC's template, made by the project's generator."""
    template = load_template(RFC_DELEGATION_OBJECT["csr-template"])
    made = generate_key_and_csr(template, DomainPolicy(["ido.example"]), ["abc.ido.example"],
                                "ecdsa-p256", {"stateOrProvince": "Quebec",
                                               "locality": "Montreal"})
    der = made.csr.public_bytes(serialization.Encoding.DER)
    return base64.urlsafe_b64encode(der).decode().rstrip("=")


def operator_wrote(ndc: Any, order_url: str, **status: Any) -> None:
    name = "gm0wfLYHBen-" + order_url.rsplit("/", 1)[1]
    ndc.cluster.set_status(c.STARORDER_KIND, name, status)


def test_directory_account_list_and_delegation_object(ndc: Any) -> None:
    meta = ndc.directory["meta"]
    # RFC 8555 §7.1.1: every resource but newAuthz (pre-authorization is not offered, §7.4.1)
    assert set(ndc.directory) == {"newNonce", "newAccount", "newOrder", "revokeCert",
                                  "keyChange", "meta"}
    assert all(ndc.directory[k].startswith(ndc.base + "/acme/") for k in set(ndc.directory)
               - {"meta"})
    assert meta["delegation-enabled"] is True  # §2.3.4: MUST, and MUST be true
    assert meta["externalAccountRequired"] is True  # RFC 8555 §7.3.4
    created = ndc.register("ndc-key", MAC)
    assert created.status == 201 and created.headers["Location"].startswith(ndc.base)
    account = created.body
    assert set(account) == RFC_ACCOUNT_MEMBERS
    assert account["status"] == "valid" and isinstance(account["delegations"], str)
    listing = ndc.post(account["delegations"])
    assert listing.status == 200 and set(listing.body) == {"delegations"}
    assert listing.body["delegations"] == [ndc.base + "/acme/delegation/gm0wfLYHBen"]
    assert 'rel="index"' in listing.headers["Link"]
    obj = ndc.post(listing.body["delegations"][0])
    assert obj.status == 200 and obj.body == RFC_DELEGATION_OBJECT  # Figure 3, to the letter


def test_star_order_journey_of_section_2_3_2(ndc: Any) -> None:
    assert ndc.register("ndc-key", MAC).status == 201
    delegation = ndc.base + "/acme/delegation/gm0wfLYHBen"
    request = {  # Figure 4's payload
        "identifiers": [{"type": "dns", "value": "abc.ido.example"}],
        "auto-renewal": {"end-date": future(120), "lifetime": 345600,
                         "allow-certificate-get": True},
        "delegation": delegation}
    created = ndc.post(ndc.directory["newOrder"], request)
    assert created.status == 201
    order = created.body
    assert set(order) == RFC_STAR_ORDER_MEMBERS  # Figure 5: no notBefore/notAfter, nothing else
    assert order["status"] == "ready" and order["authorizations"] == []
    assert order["identifiers"] == request["identifiers"]
    assert order["auto-renewal"] == request["auto-renewal"]
    assert order["delegation"] == delegation
    assert order["finalize"] == created.headers["Location"] + "/finalize"

    finalized = ndc.post(order["finalize"], {"csr": csr_b64()})
    assert finalized.status == 200 and finalized.body["status"] == "processing"
    assert finalized.headers["Retry-After"]
    operator_wrote(ndc, created.headers["Location"], phase="Valid", mode="Native",
                   starCertificateURL=CA_STAR_URL)
    valid = ndc.post(created.headers["Location"]).body
    assert set(valid) == RFC_STAR_ORDER_MEMBERS | {"star-certificate"}  # Figure 6
    assert valid["status"] == "valid" and valid["star-certificate"] == CA_STAR_URL
    assert {k: valid[k] for k in RFC_STAR_ORDER_MEMBERS - {"status"}} == \
        {k: order[k] for k in RFC_STAR_ORDER_MEMBERS - {"status"}}


def test_non_star_order_journey_of_section_2_3_3(ndc: Any) -> None:
    assert ndc.register("ndc-key", MAC).status == 201
    delegation = ndc.base + "/acme/delegation/gm0wfLYHBen"
    request = {"identifiers": [{"type": "dns", "value": "abc.ido.example"}],  # Figure 7
               "delegation": delegation, "allow-certificate-get": True}
    created = ndc.post(ndc.directory["newOrder"], request)
    assert created.status == 201
    assert set(created.body) == RFC_ORDINARY_ORDER_MEMBERS  # Figure 8
    assert created.body["allow-certificate-get"] is True
    assert ndc.post(created.body["finalize"], {"csr": csr_b64()}).body["status"] == \
        "processing"
    operator_wrote(ndc, created.headers["Location"], phase="Valid", mode="Ordinary",
                   certificateURL="https://acme.ca.example/acme/cert/1")
    valid = ndc.post(created.headers["Location"]).body
    assert set(valid) == RFC_ORDINARY_ORDER_MEMBERS | {"certificate"}  # Figure 9
    assert valid["status"] == "valid"
    assert valid["certificate"].startswith(ndc.base + "/acme/cert/gm0wfLYHBen/")


def test_unknown_delegation_is_403_with_the_rfc_type(ndc: Any) -> None:
    assert ndc.register("ndc-key", MAC).status == 201
    answer = ndc.post(ndc.directory["newOrder"], {
        "identifiers": [{"type": "dns", "value": "abc.ido.example"}],
        "delegation": ndc.base + "/acme/delegation/someone-else", "allow-certificate-get": True})
    assert answer.status == 403
    assert answer.body["type"] == "urn:ietf:params:acme:error:unknownDelegation"
    assert answer.headers["Content-Type"] == "application/problem+json"


def test_a_ca_without_unauthenticated_get_makes_order1_invalid(ndc: Any) -> None:
    """§2.3.2: "it MUST move the Order status to invalid and set the allow-certificate-get in
    the auto-renewal object to false"."""
    ndc.cluster.set_status(c.CSRTEMPLATE_KIND, "ido", {"autoRenewal": {
        "allowCertificateGet": False}})
    assert ndc.register("ndc-key", MAC).status == 201
    created = ndc.post(ndc.directory["newOrder"], {
        "identifiers": [{"type": "dns", "value": "abc.ido.example"}],
        "auto-renewal": {"end-date": future(120), "lifetime": 345600,
                         "allow-certificate-get": True},
        "delegation": ndc.base + "/acme/delegation/gm0wfLYHBen"})
    ndc.post(created.body["finalize"], {"csr": csr_b64()})
    operator_wrote(ndc, created.headers["Location"], phase="Valid", mode="Native",
                   starCertificateURL=CA_STAR_URL)
    order = ndc.post(created.headers["Location"]).body
    assert order["status"] == "invalid" and "star-certificate" not in order
    assert order["auto-renewal"]["allow-certificate-get"] is False


def test_no_new_order_under_a_delegation_being_deleted(ndc: Any) -> None:
    assert ndc.register("ndc-key", MAC).status == 201
    url = ndc.base + "/acme/delegation/gm0wfLYHBen"
    pending = ndc.post(ndc.directory["newOrder"], {
        "identifiers": [{"type": "dns", "value": "abc.ido.example"}], "delegation": url,
        "allow-certificate-get": True})
    assert pending.status == 201
    body = ndc.cluster.objects[(c.DELEGATION_KIND, "gm0wfLYHBen")]
    body["metadata"]["deletionTimestamp"] = "2026-12-02T14:00:00Z"  # its finalizer is running
    refused = ndc.post(ndc.directory["newOrder"], {
        "identifiers": [{"type": "dns", "value": "abc.ido.example"}], "delegation": url,
        "allow-certificate-get": True})
    assert (refused.status, refused.problem_type) == (403, "unknownDelegation")
    late = ndc.post(pending.body["finalize"], {"csr": csr_b64()})
    assert (late.status, late.problem_type) == (403, "unauthorized")
    assert not [k for k in ndc.cluster.objects if k[0] == c.STARORDER_KIND]

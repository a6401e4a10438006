"""revokeCert at the front end (RFC 8555 §7.6, RFC 9115 §2.3.6/§7.3): the real app over HTTPS
with a FakeCluster whose ``patch_star_order`` plays the operator (``spec.canceled`` with the
reason annotation on an ordinary StarOrder: the certificate is recorded revoked).

An ordinary certificate of the account is revoked (signed by the account or by the
certificate's key) with the NDC's reason, once; a STAR certificate is 403
autoRenewalRevocationNotSupported; another account's certificate, another key's signature or a
certificate the order's Secret does not hold is 403 unauthorized; junk is 400 malformed; none
of the refusals touches the StarOrder."""
from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import josepy as jose
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from star_operator import constants as c
from star_operator.csr_template import DomainPolicy, generate_key_and_csr, load_template
from star_operator.delegation import revocation
from tests.integration.delegation.ndc_client import Ndc
from tests.unit.delegation.fake_cluster import FakeCluster
from tests.unit.delegation.served import serve
from tests.unit.delegation.test_rfc9115_interop import (RFC_DELEGATION_OBJECT, MAC, dno_cluster,
                                                        future)

DELEGATION = "gm0wfLYHBen"
OTHER_MAC = base64.urlsafe_b64encode(b"o" * 32).decode().rstrip("=")


def make_cert(public_key: Any, serial: int | None = None) -> x509.Certificate:
    """A certificate for ``public_key`` from a throwaway CA (what the upstream CA issued)."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "abc.ido.example")])
    return (x509.CertificateBuilder().subject_name(name)
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")]))
            .public_key(public_key).serial_number(serial or x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(hours=1)).sign(ca_key, hashes.SHA256()))


def b64_der(cert: x509.Certificate) -> str:
    return jose.encode_b64jose(cert.public_bytes(serialization.Encoding.DER))


class Operator:
    """Plays the operator on the FakeCluster: a canceled ordinary StarOrder's certificate is
    revoked at once (unless ``confirms`` is False) with the reason of the annotation."""

    def __init__(self, cluster: FakeCluster, confirms: bool = True) -> None:
        self.cluster, self.confirms = cluster, confirms
        self.patches: list[tuple[str, Any]] = []
        self.real = cluster.patch_star_order
        cluster.patch_star_order = self.patch  # type: ignore[method-assign]

    async def patch(self, name: str, patch: Any) -> Any:
        self.patches.append((name, patch))
        done = await self.real(name, patch)
        if self.confirms and done["spec"].get("canceled") and done["spec"].get("star") is False:
            self.cluster.set_status(c.STARORDER_KIND, name, {"series": {
                "revoked": [done["status"]["series"]["serial"]]}})
        return self.cluster.objects[(c.STARORDER_KIND, name)]


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Any]:
    cluster = dno_cluster()
    cluster.put("Secret", {"metadata": {"name": "other-eab"},
                           "data": {"hmacKey": base64.b64encode(OTHER_MAC.encode()).decode()}})
    other = dict(cluster.objects[(c.DELEGATION_KIND, DELEGATION)])
    cluster.put(c.DELEGATION_KIND, {**other, "metadata": {"name": "other-cdn"}, "spec": {
        **other["spec"], "externalAccountBinding": {"keyID": "other-key", "hmacKeySecretRef": {
            "name": "other-eab"}}}})
    with serve(cluster, tmp_path) as base:
        ndc = Ndc(base + "/directory", (tmp_path / "tls.crt").read_text())
        assert ndc.register("ndc-key", MAC).status == 201

        class Env:
            pass
        e = Env()
        e.cluster, e.base, e.ndc, e.tmp = cluster, base, ndc, tmp_path  # type: ignore
        e.operator = Operator(cluster)  # type: ignore[attr-defined]
        yield e


def issued(env: Any, star: bool) -> tuple[str, Any, x509.Certificate]:
    """Order1 finalized with a CSR of a fresh key, and the operator's StarOrder valid with a
    certificate for that key in its Secret: (StarOrder name, key, certificate)."""
    ndc = env.ndc
    extra: dict[str, Any] = ({"auto-renewal": {"end-date": future(120), "lifetime": 345600,
                                               "allow-certificate-get": True}} if star
                             else {"allow-certificate-get": True})
    created = ndc.post(ndc.directory["newOrder"], {
        "identifiers": [{"type": "dns", "value": "abc.ido.example"}],
        "delegation": f"{env.base}/acme/delegation/{DELEGATION}", **extra})
    assert created.status == 201
    made = generate_key_and_csr(load_template(RFC_DELEGATION_OBJECT["csr-template"]),
                                DomainPolicy(["ido.example"]), ["abc.ido.example"],
                                "ecdsa-p256", {"stateOrProvince": "Quebec",
                                               "locality": "Montreal"})
    csr = jose.encode_b64jose(made.csr.public_bytes(serialization.Encoding.DER))
    assert ndc.post(created.body["finalize"], {"csr": csr}).status == 200
    key = serialization.load_pem_private_key(made.key_pem, None)
    cert = make_cert(key.public_key())
    name = f"{DELEGATION}-{created.headers['Location'].rsplit('/', 1)[1]}"
    secret = env.cluster.objects[(c.STARORDER_KIND, name)]["spec"]["secretName"]
    env.cluster.put("Secret", {"metadata": {"name": secret}, "data": {c.TLS_CRT: base64.b64encode(
        cert.public_bytes(serialization.Encoding.PEM)).decode()}})
    serial = format(cert.serial_number, "x")
    env.cluster.set_status(c.STARORDER_KIND, name, {
        "phase": "Valid", "mode": "Native" if star else "Ordinary",
        "series": {"serial": serial},
        **({"starCertificateURL": "https://ca/star/1"} if star
           else {"certificateURL": "https://ca/cert/1"})})
    return name, key, cert


def cert_key_client(env: Any, key: Any) -> Ndc:
    return Ndc(env.ndc.directory_url, env.ndc.ca_pem, key=jose.JWKEC(key=key))


def test_the_directory_names_revoke_cert(env: Any) -> None:
    assert env.ndc.directory["revokeCert"] == env.base + "/acme/revoke-cert"


def test_an_ordinary_certificate_is_revoked_upstream_once_with_the_ndcs_reason(
        env: Any) -> None:
    name, _, cert = issued(env, star=False)
    url = env.ndc.directory["revokeCert"]
    answer = env.ndc.post(url, {"certificate": b64_der(cert), "reason": 4})
    assert answer.status == 200, answer.body
    assert env.operator.patches == [(name, {
        "metadata": {"annotations": {c.REVOCATION_REASON_ANNOTATION: "4"}},
        "spec": {"canceled": True}})]
    again = env.ndc.post(url, {"certificate": b64_der(cert), "reason": 4})
    assert (again.status, again.problem_type) == (400, "alreadyRevoked")
    assert len(env.operator.patches) == 1


def test_the_certificates_key_may_sign_the_revocation(env: Any) -> None:
    name, key, cert = issued(env, star=False)
    holder = cert_key_client(env, key)
    answer = holder.post(holder.directory["revokeCert"], {"certificate": b64_der(cert)},
                         use_jwk=True)
    assert answer.status == 200, answer.body
    assert env.operator.patches[0][1]["metadata"]["annotations"] == {
        c.REVOCATION_REASON_ANNOTATION: "0"}


def test_a_star_certificate_is_not_revoked(env: Any) -> None:
    _, key, cert = issued(env, star=True)
    for client, jwk in ((env.ndc, False), (cert_key_client(env, key), True)):
        answer = client.post(client.directory["revokeCert"], {"certificate": b64_der(cert)},
                             use_jwk=jwk)
        assert (answer.status, answer.problem_type) == (403,
                                                        "autoRenewalRevocationNotSupported")
    assert env.operator.patches == []


def test_what_is_not_the_accounts_is_unauthorized(env: Any) -> None:
    _, key, cert = issued(env, star=False)
    url = env.ndc.directory["revokeCert"]
    other = Ndc(env.ndc.directory_url, env.ndc.ca_pem)
    assert other.register("other-key", OTHER_MAC).status == 201
    by_other = other.post(url, {"certificate": b64_der(cert)})
    assert (by_other.status, by_other.problem_type) == (403, "unauthorized")
    stranger = Ndc(env.ndc.directory_url, env.ndc.ca_pem)  # a jwk that is not the cert's key
    by_key = stranger.post(url, {"certificate": b64_der(cert)}, use_jwk=True)
    assert (by_key.status, by_key.problem_type) == (403, "unauthorized")
    assert "not the certificate's key" in by_key.body["detail"]
    twin = make_cert(key.public_key())  # the order's key, but not what its Secret holds
    not_issued = env.ndc.post(url, {"certificate": b64_der(twin)})
    assert (not_issued.status, not_issued.problem_type) == (403, "unauthorized")
    unknown = env.ndc.post(url, {"certificate": b64_der(make_cert(
        ec.generate_private_key(ec.SECP256R1()).public_key()))})
    assert (unknown.status, unknown.problem_type) == (403, "unauthorized")
    assert env.operator.patches == []


@pytest.mark.parametrize("payload,kind", [
    ({}, "malformed"), ({"certificate": 7}, "malformed"),
    ({"certificate": "!!not base64"}, "malformed"),
    ({"certificate": jose.encode_b64jose(b"not DER")}, "malformed"),
    ("reason 7", "badRevocationReason"), ("reason true", "badRevocationReason")])
def test_malformed_requests_are_400(env: Any, payload: Any, kind: str) -> None:
    _, _, cert = issued(env, star=False)
    if isinstance(payload, str):
        payload = {"certificate": b64_der(cert),
                   "reason": 7 if payload == "reason 7" else True}
    answer = env.ndc.post(env.ndc.directory["revokeCert"], payload)
    assert (answer.status, answer.problem_type) == (400, kind)
    assert env.operator.patches == []


def test_an_operator_that_does_not_confirm_in_time_is_a_503_then_a_retry_finds_it(
        env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(revocation, "WAIT", 0.5)
    env.operator.confirms = False
    name, _, cert = issued(env, star=False)
    url = env.ndc.directory["revokeCert"]
    late = env.ndc.post(url, {"certificate": b64_der(cert)})
    assert (late.status, late.headers.get("Retry-After")) == (503, "1")
    assert env.cluster.objects[(c.STARORDER_KIND, name)]["spec"]["canceled"] is True
    env.cluster.set_status(c.STARORDER_KIND, name, {"series": {
        "revoked": [format(cert.serial_number, "x")]}})  # the operator got there
    done = env.ndc.post(url, {"certificate": b64_der(cert)})
    assert (done.status, done.problem_type) == (400, "alreadyRevoked")

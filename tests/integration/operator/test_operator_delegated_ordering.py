"""Delegated StarOrders (spec.csr: the CDN's CSR, RFC 9115) in the DNO's cluster, against the
real control plane, BIND 9 and star-ca (native STAR, and playing a public CA without STAR):
the operator orders with exactly the given CSR and the DNO's own account, never holds a key,
installs emulated-series certificates without one, and ends the delegation at the CA on
spec.canceled and on deletion; a CSR outside the template never reaches the CA."""
from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from op_delegated import cdn_request, key_material_in_cluster, spki, star_get
from op_env import (StarEnv, ca_orders, ca_revocations, get, installed, public_ca, warned,
                    wait_condition)

from star_devenv.ca import LocalCA
from star_devenv.kubectl import Kubectl
from star_operator.verify import verify_certificate
from tests.waiting import wait_for

SHORT = 6  # seconds: the public CA's "short" profile (ARI window at 2/3..5/6 of it)

pytestmark = [pytest.mark.cluster, pytest.mark.dns]


def delegated_order(env: StarEnv, name: str, ns: str, host: str, csr: str, *,
                    lifetime: str = "4s", **extra: Any) -> dict[str, Any]:
    return env.star_order(name, ns, [host], lifetime=lifetime, csr=csr, **extra)


def test_native_star_order_with_the_cdns_csr_and_no_key_here(
        kubectl: Kubectl, star_env: StarEnv, operator_process, namespace: str) -> None:
    hosts = {n: f"{n}-{namespace}.star.test" for n in ("cancel", "delete", "single")}
    keys, urls = {}, {}
    for name, host in hosts.items():  # two at once: one ends by spec.canceled, one by deletion
        keys[name], csr = cdn_request(star_env, [host])
        kubectl.apply(delegated_order(star_env, name, namespace, host, csr,
                                      **({"star": False} if name == "single" else {})))
    single = ordinary_certificate(kubectl, star_env, namespace, hosts.pop("single"),
                                  key_pem(keys["single"]))
    for name, host in hosts.items():
        order = wait_condition(kubectl, "starorder", name, namespace, status="True",
                               reason="Delegated", timeout=120)
        status = order["status"]
        assert status["phase"] == "Valid" and status["mode"] == "Native"
        assert status["accountURL"] == get(kubectl, "csrtemplate", star_env.template)[
            "status"]["accountURL"]  # the DNO's account placed it
        # what the CA issues carries exactly the CDN's public key
        urls[name] = status["starCertificateURL"]
        code, leaf = star_get(star_env, urls[name])
        assert code == 200 and spki(leaf) == spki(keys[name])
        assert leaf.extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName) == [host]
        assert [s for _, s in ca_orders(star_env.ca, host)] == ["valid"]  # one order, no more
    assert key_material_in_cluster(kubectl, namespace) == []
    assert get(kubectl, "secret", "cancel-tls", namespace) is None  # native: nothing to hold

    kubectl.run("delete", "starorder", "single", "-n", namespace, "--timeout=60s")
    assert ca_revocations(star_env.ca)[single] == 5  # cessationOfOperation

    kubectl.run("patch", "starorder", "cancel", "-n", namespace, "--type=merge",
                "-p", '{"spec":{"canceled":true}}')
    kubectl.run("delete", "starorder", "delete", "-n", namespace, "--timeout=60s")
    wait_for(lambda: (get(kubectl, "starorder", "cancel", namespace) or {}).get(
        "status", {}).get("phase") == "Canceled", 60, "phase Canceled")
    for name, host in hosts.items():
        assert [s for _, s in ca_orders(star_env.ca, host)] == ["canceled"], name
        assert star_get(star_env, urls[name])[0] == 403  # autoRenewalCanceled: nothing more


def _rsa_csr(host: str) -> str:
    """A CSR the template refuses: an RSA key where it allows P-256 only."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, host)])).add_extension(
        x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False).sign(
        key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode()


@pytest.mark.parametrize("case", ["names", "template"])
def test_a_csr_outside_the_template_is_refused_with_the_field_named(
        kubectl: Kubectl, star_env: StarEnv, operator_process, namespace: str,
        case: str) -> None:
    host = f"bad-{namespace}.star.test"
    if case == "names":  # a conforming CSR, for other names than the StarOrder's
        _, csr = cdn_request(star_env, [f"other-{namespace}.star.test"])
        field = "spec.csr"
    else:
        csr, field = _rsa_csr(host), "keyTypes"
    kubectl.apply(delegated_order(star_env, "bad", namespace, host, csr))
    order = wait_condition(kubectl, "starorder", "bad", namespace, status="False",
                           reason="TemplateViolation")
    assert order["status"]["phase"] == "Rejected"
    assert field in {v["field"] for v in order["status"]["violations"]}
    assert field in order["status"]["conditions"][0]["message"]
    assert warned(kubectl, namespace, "bad", "TemplateViolation")
    assert ca_orders(star_env.ca, host) == []  # refused before the CA heard of it
    assert key_material_in_cluster(kubectl, namespace) == []


def key_pem(key: Any) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def certificate_only(kubectl: Kubectl, ns: str, secret: str) -> tuple[bytes, bytes] | None:
    """(tls.crt, ca.crt) of a certificate-only Secret, once it has a certificate; fails on any
    trace of a key in it."""
    obj = get(kubectl, "secret", secret, ns)
    if not obj or not (obj.get("data") or {}).get("tls.crt"):
        return None
    assert obj["type"] == "Opaque" and set(obj["data"]) == {"tls.crt", "ca.crt"}, obj["data"]
    return tuple(base64.b64decode(obj["data"][k]) for k in ("tls.crt", "ca.crt"))


def ordinary_certificate(kubectl: Kubectl, env: StarEnv, ns: str, host: str,
                         cdn_key: bytes) -> str:
    """spec.star false at a STAR CA: one ordinary order, the certificate in status and in the
    Secret (no key); returns its serial."""
    order = wait_condition(kubectl, "starorder", "single", ns, status="True", reason="Issued",
                           timeout=120)
    status = order["status"]
    assert status["mode"] == "Ordinary" and status["certificateURL"]
    assert "starCertificateURL" not in status and status["series"]["final"] is True
    crt, ca = wait_for(lambda: certificate_only(kubectl, ns, "single-tls"), 30, "certificate")
    assert ca.decode() == env.root_pem
    serial = verify_certificate(crt, cdn_key, env.root_pem, expected_names=[host]).serial
    assert len(ca_orders(env.ca, host)) == 1
    return serial


@pytest.fixture(scope="module")
def no_star_ca(dns_server: Any) -> Iterator[LocalCA]:
    with public_ca(dns_server, {"short": SHORT}) as ca:
        yield ca


@pytest.fixture(scope="module")
def no_star_env(kubectl: Kubectl, crds: None, dns_server: Any, no_star_ca: LocalCA
                ) -> Iterator[StarEnv]:
    with installed(StarEnv(kubectl, dns_server, no_star_ca, suffix=f"d{uuid.uuid4().hex[:5]}",
                           profile="short")) as env:
        yield env


def test_emulated_series_keeps_the_cdns_key_installs_certificates_only_and_cancels(
        kubectl: Kubectl, no_star_env: StarEnv, operator_process, namespace: str) -> None:
    env, host = no_star_env, f"emu-{namespace}.star.test"
    key, csr = cdn_request(env, [host])
    kubectl.apply(delegated_order(env, "emu", namespace, host, csr, lifetime=f"{SHORT}s"))
    order = wait_condition(kubectl, "starorder", "emu", namespace, status="True",
                           reason="Issued", timeout=120)
    assert order["status"]["mode"] == "Emulated"
    serials: list[str] = []

    def two_certificates() -> bool:
        got = certificate_only(kubectl, namespace, "emu-tls")
        if got is None:
            return False
        # every state of the Secret: a certificate for the CDN's key, chaining to the CA
        serial = verify_certificate(got[0], key_pem(key), env.root_pem,
                                    expected_names=[host]).serial
        if serial not in serials:
            serials.append(serial)
        return len(serials) >= 2

    wait_for(two_certificates, 60, "two certificates of the series", interval=0.2)
    assert key_material_in_cluster(kubectl, namespace) == []
    kubectl.run("patch", "starorder", "emu", "-n", namespace, "--type=merge",
                "-p", '{"spec":{"canceled":true}}')
    wait_for(lambda: get(kubectl, "starorder", "emu", namespace)["status"].get(
        "phase") == "Canceled", 60, "phase Canceled")
    revoked = ca_revocations(env.ca)
    last = get(kubectl, "starorder", "emu", namespace)["status"]["series"]["serial"]
    assert revoked[last] == 5  # the delegation ends now, not at expiry (cessationOfOperation)
    assert certificate_only(kubectl, namespace, "emu-tls")  # the last one stays, still no key

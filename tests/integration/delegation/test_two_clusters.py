"""Two organizations, two clusters, RFC 9115 between them; native STAR upstream, and (last
test) star-ca without STAR, where the front end serves star-certificate itself.

DNO's cluster (the session's control plane): its operator, the delegation front end (HTTPS
subprocess), a Delegation with its EAB Secret, BIND 9 and star-ca. CDN's cluster (a second
control plane): its own operator, a StarIssuer with the EAB Secret, a StarOrder. Shown: the CDN's
Secret gets a valid chain and keeps being renewed, its key never appears in the DNO's cluster;
an ask outside the delegation is refused with the field named on the CDN's StarOrder; the DNO
deleting the Delegation makes star-ca answer 403 autoRenewalCanceled, the CDN's StarOrder says
so and its Secret keeps the last certificate. Prints the two times issue #12 asks for. Also
the ordinary variant (RFC 9115 §2.3.3, ``spec.star: false``): one certificate, nothing after it.
"""
from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from front_end_fixtures import (  # noqa: F401
    crds, delegation, dno_namespace, front_end, mac_key, operator_process, star_ca, star_env)
from tests.integration.operator.op_delegated import key_material_in_cluster, spki, star_get
from tests.integration.operator.op_env import (StarEnv, get, installed, public_ca, secret_tls,
                                               wait_condition)
from tests.waiting import wait_for
from two_clusters_fixtures import cdn_ns, cdn_order, star_issuer, wait_rotations  # noqa: F401

from star_devenv.front_end import LocalFrontEnd
from star_devenv.kubectl import Kubectl
from star_devenv.two_clusters import secrets_holding
from star_operator import pem, timeutil

pytestmark = [pytest.mark.cluster, pytest.mark.dns]

SHORT = 6  # seconds: the STAR-less CA's "short" profile
ORDINARY_LABEL = "star.operator.dev/delegation=cdn-ordinary"


@pytest.fixture(scope="module")
def public_env(kubectl: Kubectl, crds: None, dns_server: Any) -> Iterator[StarEnv]:
    with public_ca(dns_server, {"short": SHORT}) as ca, installed(StarEnv(
            kubectl, dns_server, ca, suffix=f"q{uuid.uuid4().hex[:5]}", profile="short")) as env:
        yield env


def test_cdn_orders_through_the_front_end_and_the_dno_takes_it_back(
        kubectl: Kubectl, star_env: StarEnv, dno_namespace: str, front_end: LocalFrontEnd,
        cdn_kubectl: Kubectl, cdn_ns: str) -> None:
    ns, host = dno_namespace, f"www-{dno_namespace}.{star_env.dns.zone}"
    mac = mac_key()
    delegation(kubectl, ns, "cdn", star_env.template, "cdn-key", mac,
               star={"maxLifetime": "1h", "maxDuration": "1d"})
    wait_condition(kubectl, "delegation", "cdn", ns, status="True", timeout=60)

    start = time.monotonic()
    star_issuer(cdn_kubectl, cdn_ns, "dno", front_end.directory_url, "cdn-key", mac,
                roots=front_end.ca_pem + star_env.root_pem)
    cdn_order(cdn_kubectl, cdn_ns, "www", "dno", [host])
    crt, key, _ = wait_for(lambda: secret_tls(cdn_kubectl, cdn_ns, "www-tls"), 90,
                           "the CDN's first certificate")
    first = time.monotonic() - start
    print(f"\nCDN apply -> first certificate through the front end: {first:.1f} s")

    issuer = wait_condition(cdn_kubectl, "starissuer", "dno", cdn_ns, status="True",
                            reason="DelegationFound")
    assert issuer["status"]["delegationURL"].endswith("/acme/delegation/cdn")
    leaf = pem.load_chain(crt)[0]
    assert spki(leaf) == spki(pem.load_private_key(key))
    order = wait_condition(cdn_kubectl, "starorder", "www", cdn_ns, status="True",
                           reason="Issued")
    star_url = order["status"]["starCertificateURL"]
    assert star_url.startswith(star_env.ca.directory_url.rsplit("/", 1)[0])  # the CA's, direct
    # The CDN's key is in the CDN's cluster only.
    assert key_material_in_cluster(kubectl, ns) == []
    assert secrets_holding(kubectl, key.strip()) == []

    wait_rotations(cdn_kubectl, cdn_ns, "www")
    crt_now, key_now, _ = secret_tls(cdn_kubectl, cdn_ns, "www-tls")
    assert key_now == key and pem.load_chain(crt_now)[0].serial_number != leaf.serial_number

    deleted = time.monotonic()
    kubectl.run("delete", "delegation", "cdn", "-n", ns, "--wait=false")
    wait_for(lambda: star_get(star_env, star_url)[0] == 403, 60, "star-ca refuses (canceled)")
    refused = time.monotonic() - deleted
    print(f"DNO deletes the Delegation -> the CA refuses the next certificate: {refused:.1f} s")
    said = wait_condition(cdn_kubectl, "starorder", "www", cdn_ns, status="False",
                          reason="Canceled", timeout=60)
    assert "autoRenewalCanceled" in said["status"]["conditions"][0]["message"]
    last = secret_tls(cdn_kubectl, cdn_ns, "www-tls")
    assert last is not None and last[1] == key  # the last certificate stays until it expires


def test_an_ask_outside_the_delegation_is_refused_with_the_field(
        kubectl: Kubectl, star_env: StarEnv, dno_namespace: str, front_end: LocalFrontEnd,
        cdn_kubectl: Kubectl, cdn_ns: str) -> None:
    mac = mac_key()
    delegation(kubectl, dno_namespace, "cdn-narrow", star_env.template, "narrow-key", mac)
    star_issuer(cdn_kubectl, cdn_ns, "narrow", front_end.directory_url, "narrow-key", mac,
                roots=front_end.ca_pem + star_env.root_pem)
    cdn_order(cdn_kubectl, cdn_ns, "evil", "narrow", ["www.not-the-dno.test"])
    order = wait_for(lambda: (o := get(cdn_kubectl, "starorder", "evil", cdn_ns)) and
                     (o.get("status") or {}).get("phase") == "Failed" and o, 60,
                     "the front end's refusal on the CDN's StarOrder")
    cond = order["status"]["conditions"][0]
    assert cond["reason"] in ("FrontEndRejectedIdentifier", "FrontEndBadCSR"), cond
    assert "www.not-the-dno.test" in cond["message"]
    assert order["status"]["violations"], order["status"]
    assert "orderURL" not in order["status"] or order["status"].get("orderState") != "valid"


def test_refusals_before_any_order1_name_what_to_fix(
        kubectl: Kubectl, star_env: StarEnv, dno_namespace: str, front_end: LocalFrontEnd,
        cdn_kubectl: Kubectl, cdn_ns: str) -> None:
    """A MAC key the front end does not accept, another CDN's delegation, and a key type the
    delegation's template does not allow: each a condition with the front end's (or the
    template's) words, no key staged where nothing can be ordered, and no Order1."""
    mac, other = mac_key(), mac_key()
    delegation(kubectl, dno_namespace, "cdn-own", star_env.template, "own-key", mac)
    delegation(kubectl, dno_namespace, "cdn-other", star_env.template, "other-key", other)
    fe, roots = front_end.directory_url, front_end.ca_pem + star_env.root_pem
    star_issuer(cdn_kubectl, cdn_ns, "wrong-mac", fe, "own-key", mac_key(), roots=roots)
    cdn_order(cdn_kubectl, cdn_ns, "no-account", "wrong-mac", ["a.star.test"])
    refused = wait_condition(cdn_kubectl, "starissuer", "wrong-mac", cdn_ns, status="False",
                             reason="ExternalAccountBindingRefused", timeout=60)
    assert "own-key" in refused["status"]["conditions"][0]["message"]
    wait_condition(cdn_kubectl, "starorder", "no-account", cdn_ns, status="False",
                   reason="ExternalAccountBindingRefused", timeout=60)
    assert get(cdn_kubectl, "secret", "no-account-tls", cdn_ns) is None

    star_issuer(cdn_kubectl, cdn_ns, "own", fe, "own-key", mac, roots=roots)
    cdn_kubectl.apply({"apiVersion": "star.operator.dev/v1alpha1", "kind": "StarOrder",
                       "metadata": {"name": "rsa", "namespace": cdn_ns},
                       "spec": {"issuerRef": {"name": "own"}, "dnsNames": ["rsa.star.test"],
                                "keyType": "rsa-2048", "secretName": "rsa-tls",
                                "lifetime": "5s", "duration": "1h"}})
    order = wait_condition(cdn_kubectl, "starorder", "rsa", cdn_ns, status="False",
                           reason="TemplateViolation", timeout=60)
    (violation,) = order["status"]["violations"]
    assert violation["field"] == "delegation csr-template keyTypes", violation
    assert "rsa-2048" in violation["message"] and "orderURL" not in order["status"]
    assert get(cdn_kubectl, "secret", "rsa-tls", cdn_ns) is None

    # The key id is bound to this account now; naming another CDN's delegation is refused.
    theirs = f"{front_end.base_url}/acme/delegation/cdn-other"
    cdn_kubectl.run("patch", "starissuer", "own", "-n", cdn_ns, "--type=merge",
                    "-p", f'{{"spec": {{"delegationURL": "{theirs}"}}}}')
    unknown = wait_condition(cdn_kubectl, "starissuer", "own", cdn_ns, status="False",
                             reason="UnknownDelegation", timeout=60)
    assert theirs in unknown["status"]["conditions"][0]["message"]


def test_a_cdn_operator_crash_mid_order_places_no_second_order1(
        kubectl: Kubectl, star_env: StarEnv, dno_namespace: str, front_end: LocalFrontEnd,
        cdn_kubectl: Kubectl, cdn_ns: str, cdn_operator: Any) -> None:
    """SIGKILL of the CDN's operator while its StarOrder is between key and certificate: the
    restarted operator (a fresh process: no cached account) continues the recorded Order1."""
    ns, host = dno_namespace, f"again-{dno_namespace}.{star_env.dns.zone}"
    mac = mac_key()
    delegation(kubectl, ns, "cdn-again", star_env.template, "again-key", mac)
    star_issuer(cdn_kubectl, cdn_ns, "again", front_end.directory_url, "again-key", mac,
                roots=front_end.ca_pem + star_env.root_pem)
    cdn_order(cdn_kubectl, cdn_ns, "again", "again", [host])
    wait_for(lambda: ((get(cdn_kubectl, "starorder", "again", cdn_ns) or {}).get("status")
                      or {}).get("phase") in ("KeyStaged", "Ordered", "Valid"), 60,
             "the CDN's StarOrder past its key")
    cdn_operator.kill()
    cdn_operator.start()
    _, key, _ = wait_for(lambda: secret_tls(cdn_kubectl, cdn_ns, "again-tls"), 90,
                         "the certificate after the restart")
    placed = kubectl.get_json("starorders", "-n", ns, "-l",
                              "star.operator.dev/delegation=cdn-again")["items"]
    assert len(placed) == 1
    pending = (get(kubectl, "delegation", "cdn-again", ns)["status"].get("pendingOrders")
               or {})
    assert pending == {}, pending  # no unfinalized second Order1 either
    order = get(cdn_kubectl, "starorder", "again", cdn_ns)
    assert placed[0]["metadata"]["annotations"]["star.operator.dev/ndc-order"] == \
        order["status"]["orderURL"]
    assert spki(pem.load_chain(secret_tls(cdn_kubectl, cdn_ns, "again-tls")[0])[0]) == \
        spki(pem.load_private_key(key))


def test_ordinary_variant_one_certificate_for_the_cdns_own_key_and_nothing_after_it(
        kubectl: Kubectl, star_env: StarEnv, dno_namespace: str, front_end: LocalFrontEnd,
        cdn_kubectl: Kubectl, cdn_ns: str) -> None:
    """RFC 9115 §2.3.3: ``spec.star: false`` with ``spec.issuerRef``: Order1 without
    auto-renewal, the certificate downloaded from Order1's ``certificate`` URL; nothing is
    ordered after it and deleting the CDN's StarOrder cancels nothing. (Here rather than in a
    module of its own: a module costs ~45 s of fixtures, star-ca and the DNO's operator.)"""
    ns, host = dno_namespace, f"one-{dno_namespace}.{star_env.dns.zone}"
    mac = mac_key()
    delegation(kubectl, ns, "cdn-ordinary", star_env.template, "ordinary-key", mac,
               star={"allowOrdinary": True, "maxLifetime": "1h", "maxDuration": "1d"})
    start = time.monotonic()
    star_issuer(cdn_kubectl, cdn_ns, "dno-ordinary", front_end.directory_url, "ordinary-key",
                mac, roots=front_end.ca_pem + star_env.root_pem)
    cdn_kubectl.apply({"apiVersion": "star.operator.dev/v1alpha1", "kind": "StarOrder",
                       "metadata": {"name": "one", "namespace": cdn_ns},
                       "spec": {"issuerRef": {"name": "dno-ordinary"}, "dnsNames": [host],
                                "secretName": "one-tls", "star": False, "lifetime": "1h",
                                "duration": "1d"}})

    order = wait_condition(cdn_kubectl, "starorder", "one", cdn_ns, status="True",
                           reason="Issued", timeout=90)
    print(f"\n[ordinary] CDN apply -> its one certificate through the front end: "
          f"{time.monotonic() - start:.1f} s")
    status = order["status"]
    assert status["mode"] == "Ordinary" and status["phase"] == "Valid", status
    assert status["certificateURL"].startswith(front_end.base_url + "/acme/cert/"), status
    assert "starCertificateURL" not in status and status["notAfter"], status
    crt, key, ca = secret_tls(cdn_kubectl, cdn_ns, "one-tls")
    leaf = pem.load_chain(crt)[0]
    assert spki(leaf) == spki(pem.load_private_key(key))  # the CDN's own key
    assert ca and timeutil.parse_time(status["notAfter"]) == leaf.not_valid_after_utc
    # No StarCertificate on the CDN side (nothing to fetch again), no key on the DNO side.
    assert get(cdn_kubectl, "starcertificate", "one", cdn_ns) is None
    assert key_material_in_cluster(kubectl, ns) == []
    assert secrets_holding(kubectl, key.strip()) == []

    # One DNO StarOrder, an ordinary one, whose one certificate is final: nothing ordered next.
    (placed,) = kubectl.get_json("starorders", "-n", ns, "-l", ORDINARY_LABEL)["items"]
    assert placed["spec"].get("star") is False
    assert placed["metadata"]["annotations"]["star.operator.dev/ndc-order"] == \
        status["orderURL"]
    series = placed["status"]["series"]
    assert (series["certificates"], series["final"], series.get("renewAt")) == (1, True, None)

    # Deleting the CDN's StarOrder cancels nothing (there is no STAR order) and keeps the
    # Secret; the DNO's ordinary StarOrder is untouched.
    cdn_kubectl.run("delete", "starorder", "one", "-n", cdn_ns, "--timeout=60s", timeout=90)
    assert secret_tls(cdn_kubectl, cdn_ns, "one-tls")[0] == crt
    again = get(kubectl, "starorder", placed["metadata"]["name"], ns)
    assert again is not None and not again["spec"].get("canceled")
    assert len(kubectl.get_json("starorders", "-n", ns, "-l", ORDINARY_LABEL)["items"]) == 1


def test_emulated_upstream_the_front_end_serves_star_certificate(
        kubectl: Kubectl, public_env: StarEnv, dno_namespace: str, front_end: LocalFrontEnd,
        cdn_kubectl: Kubectl, cdn_ns: str) -> None:
    ns, host = dno_namespace, f"emu-{dno_namespace}.{public_env.dns.zone}"
    mac = mac_key()
    delegation(kubectl, ns, "cdn-emu", public_env.template, "emu-key", mac,
               star={"maxLifetime": "1h", "maxDuration": "1d"})
    start = time.monotonic()
    star_issuer(cdn_kubectl, cdn_ns, "dno-emu", front_end.directory_url, "emu-key", mac,
                roots=front_end.ca_pem + public_env.root_pem)
    cdn_order(cdn_kubectl, cdn_ns, "emu", "dno-emu", [host], lifetime=f"{SHORT}s")
    crt, key, _ = wait_for(lambda: secret_tls(cdn_kubectl, cdn_ns, "emu-tls"), 90,
                           "the CDN's first certificate (emulated upstream)")
    print(f"\n[emulated] CDN apply -> first certificate through the front end: "
          f"{time.monotonic() - start:.1f} s")
    leaf = pem.load_chain(crt)[0]
    assert spki(leaf) == spki(pem.load_private_key(key))
    order = wait_condition(cdn_kubectl, "starorder", "emu", cdn_ns, status="True",
                           reason="Issued")
    star_url = order["status"]["starCertificateURL"]
    assert star_url.startswith(front_end.base_url + "/")  # the front end's own URL
    assert key_material_in_cluster(kubectl, ns) == []

    wait_rotations(cdn_kubectl, cdn_ns, "emu")

    trust = type("Trust", (), {"root_pem": front_end.ca_pem})()
    deleted = time.monotonic()
    kubectl.run("delete", "delegation", "cdn-emu", "-n", ns, "--wait=false")
    wait_for(lambda: star_get(trust, star_url)[0] == 403, 60,
             "the front end refuses the next certificate")
    print(f"[emulated] DNO deletes the Delegation -> the next certificate refused: "
          f"{time.monotonic() - deleted:.1f} s")
    said = wait_condition(cdn_kubectl, "starorder", "emu", cdn_ns, status="False",
                          reason="Canceled", timeout=60)
    assert "autoRenewalCanceled" in said["status"]["conditions"][0]["message"]
    last = secret_tls(cdn_kubectl, cdn_ns, "emu-tls")
    assert last is not None and last[1] == key

"""The two-cluster flow when the DNO's CA has no STAR (star-ca playing a public CA): the front
end serves Order1's star-certificate itself from the series the DNO's operator keeps ordering.
The CDN's side is unchanged: its StarOrder, its key, its StarCertificate fetching a URL."""
from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from front_end_fixtures import (  # noqa: F401
    crds, delegation, dno_namespace, front_end, mac_key, operator_process)
from tests.integration.operator.op_delegated import key_material_in_cluster, spki, star_get
from tests.integration.operator.op_env import (StarEnv, installed, public_ca,
                                               secret_tls, wait_condition)
from tests.waiting import wait_for
from two_clusters_fixtures import cdn_ns, cdn_order, star_issuer, wait_rotations  # noqa: F401

from star_devenv.front_end import LocalFrontEnd
from star_devenv.kubectl import Kubectl
from star_operator import pem

pytestmark = [pytest.mark.cluster, pytest.mark.dns]
SHORT = 6  # seconds: the STAR-less CA's "short" profile


@pytest.fixture(scope="module")
def public_env(kubectl: Kubectl, crds: None, dns_server: Any) -> Iterator[StarEnv]:
    with public_ca(dns_server, {"short": SHORT}) as ca, installed(StarEnv(
            kubectl, dns_server, ca, suffix=f"q{uuid.uuid4().hex[:5]}", profile="short")) as env:
        yield env


def test_emulated_upstream_the_front_end_serves_star_certificate(
        kubectl: Kubectl, public_env: StarEnv, dno_namespace: str, front_end: LocalFrontEnd,
        cdn_kubectl: Kubectl, cdn_ns: str) -> None:
    ns, host = dno_namespace, f"emu-{dno_namespace}.{public_env.dns.zone}"
    mac = mac_key()
    delegation(kubectl, ns, "cdn-emu", public_env.template, "emu-key", mac,
               star={"maxLifetime": "1h", "maxDuration": "1d"})
    start = time.monotonic()
    star_issuer(cdn_kubectl, cdn_ns, "dno", front_end.directory_url, "emu-key", mac,
                roots=front_end.ca_pem + public_env.root_pem)
    cdn_order(cdn_kubectl, cdn_ns, "www", "dno", [host], lifetime=f"{SHORT}s")
    crt, key, _ = wait_for(lambda: secret_tls(cdn_kubectl, cdn_ns, "www-tls"), 90,
                           "the CDN's first certificate (emulated upstream)")
    print(f"\n[emulated] CDN apply -> first certificate through the front end: "
          f"{time.monotonic() - start:.1f} s")
    leaf = pem.load_chain(crt)[0]
    assert spki(leaf) == spki(pem.load_private_key(key))
    order = wait_condition(cdn_kubectl, "starorder", "www", cdn_ns, status="True",
                           reason="Issued")
    star_url = order["status"]["starCertificateURL"]
    assert star_url.startswith(front_end.base_url + "/")  # the front end's own URL
    assert key_material_in_cluster(kubectl, ns) == []

    wait_rotations(cdn_kubectl, cdn_ns, "www")

    trust = type("Trust", (), {"root_pem": front_end.ca_pem})()
    deleted = time.monotonic()
    kubectl.run("delete", "delegation", "cdn-emu", "-n", ns, "--wait=false")
    wait_for(lambda: star_get(trust, star_url)[0] == 403, 60,
             "the front end refuses the next certificate")
    print(f"[emulated] DNO deletes the Delegation -> the next certificate refused: "
          f"{time.monotonic() - deleted:.1f} s")
    said = wait_condition(cdn_kubectl, "starorder", "www", cdn_ns, status="False",
                          reason="Canceled", timeout=60)
    assert "autoRenewalCanceled" in said["status"]["conditions"][0]["message"]
    last = secret_tls(cdn_kubectl, cdn_ns, "www-tls")
    assert last is not None and last[1] == key

"""Two clusters, the ordinary variant of RFC 9115 §2.3.3: a CDN StarOrder with
``spec.star: false`` and ``spec.issuerRef`` gets one certificate for its own key through the
DNO's front end (Order1 without auto-renewal, certificate downloaded from Order1's
``certificate`` URL), the DNO's cluster never sees the key, nothing is ordered after it, and
deleting the CDN's StarOrder cancels nothing (the certificate lives until it expires)."""
from __future__ import annotations

import time

import pytest

from front_end_fixtures import (  # noqa: F401
    crds, delegation, dno_namespace, front_end, mac_key, operator_process, star_ca, star_env)
from tests.integration.operator.op_delegated import key_material_in_cluster, spki
from tests.integration.operator.op_env import StarEnv, get, secret_tls, wait_condition
from two_clusters_fixtures import cdn_ns, star_issuer  # noqa: F401

from star_devenv.front_end import LocalFrontEnd
from star_devenv.kubectl import Kubectl
from star_devenv.two_clusters import secrets_holding
from star_operator import pem, timeutil

pytestmark = [pytest.mark.cluster, pytest.mark.dns]

LABEL = "star.operator.dev/delegation=cdn-ordinary"


def test_an_ordinary_certificate_for_the_cdns_own_key_and_nothing_after_it(
        kubectl: Kubectl, star_env: StarEnv, dno_namespace: str, front_end: LocalFrontEnd,
        cdn_kubectl: Kubectl, cdn_ns: str) -> None:
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
    (placed,) = kubectl.get_json("starorders", "-n", ns, "-l", LABEL)["items"]
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
    assert len(kubectl.get_json("starorders", "-n", ns, "-l", LABEL)["items"]) == 1

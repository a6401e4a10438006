"""Issue #12's proof on real parts: two organizations, two clusters, the CDN's edge on a real node.

The CDN's cluster is the session's control plane, where the node (real kubelet + containerd)
registers: the node can join one cluster only, and the edge is the CDN's. There the chart is
installed without its CA (the CDN has none) and limited to the CDN's namespace; its operator runs
as a pod on the node (host network on loopback, star_devenv.chart_on_node.operator_values) and
the edge pod of examples/cdn-edge.yaml (star_devenv.edge) mounts the Secret of the CDN's
StarOrder. The StarOrder names a StarIssuer pointing at the DNO's front end over HTTPS, with the
EAB key id and MAC key the DNO handed over.

The DNO's cluster is a second LocalControlPlane without a node. The chart is installed there
with the delegation front end and least-privilege RBAC (limited to the Delegations' namespace);
its operator and front end run on the host under the tokens of the chart's ServiceAccounts, as
test_chart_rbac and test_chart_delegation run them. star-ca (STAR on) on the host is the
upstream CA; BIND 9 answers dns-01 and holds the Delegation's cname-map.

Shown: the CNAME of the cname-map in BIND while the Delegation exists; the edge serves the first
certificate and RENEWALS renewals over TLS (SNI = the delegated name, verified against star-ca's
root), every handshake succeeding; an ask outside the CsrTemplate is refused with the field named
on the CDN's StarOrder; nothing any of the three identities asked for was refused. Then the DNO
deletes the Delegation: star-ca answers the star-certificate URL with 403 autoRenewalCanceled,
the CDN's StarOrder says so, the CNAME leaves the zone and the edge keeps serving the last
certificate until it expires. Prints the two times the issue's "Done when" asks for: the CDN's
apply to the first certificate at the edge, and the DNO's delete to the CA refusing.
"""
from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from star_devenv import chart_on_node, edge, two_clusters
from star_devenv.ca import LocalCA
from star_devenv.chart_on_node import FAST, Release, pod_logs
from star_devenv.controlplane import LocalControlPlane
from star_devenv.edge import Prober, star_certificate_problem
from star_devenv.front_end import LocalFrontEnd
from star_devenv.helm import Helm
from star_devenv.kubectl import Kubectl
from star_devenv.node import LocalNode
from tests.e2e.test_chart_rbac import REFUSALS, ChartOperator, minted_token, token_kubeconfig
from tests.integration.operator.op_env import (b64, csr_template_manifest, secret_tls,
                                               wait_condition)
from tests.waiting import wait_for

pytestmark = pytest.mark.node

#: Certificates valid LIFETIME + LIFETIME_ADJUST seconds, one published every LIFETIME seconds:
#: consecutive ones overlap by LIFETIME_ADJUST, which must exceed the operator's fetch, the
#: kubelet's Secret refresh (syncFrequency 10 s plus jitter) and the edge's reload.
LIFETIME = 20
LIFETIME_ADJUST = 20
RENEWALS = 2
PROBE_INTERVAL = 0.2


def refusals(text: str) -> list[str]:
    return [line for line in text.splitlines() if any(r in line for r in REFUSALS)]


# ------------------------------------------------------------------------------ the DNO

@dataclass
class Dno:
    kubectl: Kubectl
    grants: str               # the Delegations' namespace (the front end's)
    template: str
    operator: ChartOperator
    front_end: LocalFrontEnd


@pytest.fixture(scope="module")
def dno_plane() -> Iterator[Future[LocalControlPlane]]:
    """The DNO's control plane, started in the background: it comes up while the CDN's chart
    installs on the node (each takes ~10-20 s on a loaded machine)."""
    plane = LocalControlPlane()
    with ThreadPoolExecutor(1) as pool:
        started = pool.submit(plane.start)
        try:
            yield started
        finally:
            started.exception()  # a start still under way ends first
            plane.stop()


@pytest.fixture(scope="module")
def star_ca(dns_server: Any) -> Iterator[LocalCA]:
    with LocalCA(dns_server=dns_server.server, min_lifetime=1, max_duration=86400) as ca:
        yield ca


@pytest.fixture(scope="module")
def dno(dno_plane: Future[LocalControlPlane], dns_server: Any, star_ca: LocalCA,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dno]:
    plane = dno_plane.result()
    kubectl = Kubectl(plane.kubeconfig)
    suffix = uuid.uuid4().hex[:6]
    ns, grants, release = f"dno-{suffix}", f"grants-{suffix}", f"dno-{suffix}"
    two_clusters.apply_all(kubectl, [{"apiVersion": "v1", "kind": "Namespace",
                                      "metadata": {"name": name}} for name in (ns, grants)])
    helm = Helm(plane.kubeconfig)
    try:
        helm.install(release, ns, {
            "watchNamespaces": [grants], "operator": {"env": FAST},
            "delegation": {"enabled": True, "namespace": grants,
                           "tls": {"secretName": "front-end-tls"}}})
    finally:
        helm.close()
    # The DNO's Secrets (TSIG key, star-ca's root) in the operator's secrets namespace (the
    # release's), and the CsrTemplate granting the Delegations' namespace only.
    template = f"cdn-{suffix}"
    two_clusters.apply_all(kubectl, [
        {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
         "metadata": {"name": "tsig", "namespace": ns},
         "data": {"secret": b64(dns_server.tsig_secret)}},
        {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
         "metadata": {"name": "star-ca", "namespace": ns},
         "data": {"ca.crt": b64(star_ca.root_pem_path.read_text())}},
        csr_template_manifest(template, dns_server, [grants],
                              directory_url=star_ca.directory_url,
                              account_key_ref={"name": "acme-account"},
                              ca_bundle_ref={"name": "star-ca"},
                              tsig_secret_ref={"name": "tsig"})])

    # The operator and the front end on the host, each with only its ServiceAccount's token.
    logs = tmp_path_factory.mktemp("dno")
    sa = f"{release}-star-operator"
    operator = ChartOperator(
        kubectl.get_json("deployment", sa, "-n", ns),
        token_kubeconfig(Path(plane.kubeconfig), minted_token(kubectl, plane, ns, sa), ns,
                         logs / "operator-kubeconfig"), logs / "operator.log")
    fe_kubeconfig = token_kubeconfig(
        Path(plane.kubeconfig), minted_token(kubectl, plane, ns, f"{sa}-delegation"), ns,
        logs / "front-end-kubeconfig")
    operator.start()
    try:
        with LocalFrontEnd(fe_kubeconfig, grants) as fe:
            wait_for(operator.healthy, 60, "the DNO operator's /healthz")
            wait_condition(kubectl, "csrtemplate", template, None, status="True", timeout=60)
            yield Dno(kubectl, grants, template, operator, fe)
    finally:
        operator.stop()
        print(f"DNO operator log: {operator.log_path}")


# ------------------------------------------------------------------------------ the CDN

@pytest.fixture(scope="module")
def cdn(dno_plane: Future[LocalControlPlane], node: LocalNode, control_plane: Any,
        kubectl: Kubectl, project_image: str) -> Iterator[Release]:
    """The CDN's chart on the node: the operator alone, limited to the CDN's namespace."""
    suffix = uuid.uuid4().hex[:6]
    rel = Release.new(f"cdn-{suffix}", f"cdn-system-{suffix}", f"cdn-{suffix}")
    values = {**chart_on_node.operator_values(rel, project_image, Path(control_plane.kubeconfig)),
              "watchNamespaces": [rel.cdn]}
    helm = Helm(control_plane.kubeconfig)
    chart_on_node.install(helm, kubectl, rel, values)
    try:
        chart_on_node.wait_pods_ready(kubectl, rel, ca=False)
        yield rel
    finally:
        try:
            chart_on_node.uninstall(kubectl, helm, rel)
        finally:
            helm.close()
        assert not kubectl.run("get", "all", "-A", "-l",
                               f"app.kubernetes.io/instance={rel.name}", "-o", "name"
                               ).stdout.strip()


# ------------------------------------------------------------------------------ the test

@pytest.mark.timeout(1800)  # a fresh machine builds the image first (debootstrap)
def test_cdn_edge_on_a_node_serves_a_delegation_until_the_dno_takes_it_back(
        dno_plane: Future[LocalControlPlane], cdn: Release, dno: Dno, kubectl: Kubectl,
        dns_server: Any, star_ca: LocalCA, project_image: str) -> None:
    zone, root_pem = dns_server.zone, star_ca.root_pem_path.read_text()
    host = f"www-{cdn.cdn}.{zone}"
    alias = f"edge-{cdn.cdn}.{zone}."  # in the test zone: star-ca's CAA lookup follows it

    # 1. The DNO grants the CDN the template, with a cname-map; the CNAME appears in BIND.
    mac = two_clusters.mac_key()
    two_clusters.delegation(dno.kubectl, dno.grants, "cdn", dno.template, "cdn-key", mac,
                            cnameMap={f"{host}.": alias},
                            star={"maxLifetime": "1h", "maxDuration": "1d"})
    wait_for(lambda: dns_server.query(host, "CNAME") == [alias], 60,
             "the cname-map's CNAME in BIND")

    # 2. The edge on the node, waiting for the Secret of the CDN's StarOrder.
    secret = "www-tls"
    edge.deploy(kubectl, cdn.cdn, project_image, cdn.ports["edge"], secret, [host])

    # 3. The CDN applies what the DNO handed over: StarIssuer (front end + EAB), StarOrder; and
    #    an order for a name outside the template.
    prober = Prober(cdn.ports["edge"], host, root_pem, interval=PROBE_INTERVAL)
    applied = time.time()
    two_clusters.star_issuer(kubectl, cdn.cdn, "dno", dno.front_end.directory_url, "cdn-key",
                             mac, roots=dno.front_end.ca_pem + root_pem)
    two_clusters.cdn_order(kubectl, cdn.cdn, "www", "dno", [host], lifetime=f"{LIFETIME}s",
                           lifetime_adjust=f"{LIFETIME_ADJUST}s", duration="1h")
    outside = "www.not-the-dno.test"
    two_clusters.cdn_order(kubectl, cdn.cdn, "evil", "dno", [outside])
    try:
        prober.until(lambda: prober.order, 120, "the first handshake")
        first_certificate = prober.seen[prober.order[0]].first_seen - applied
        prober.until(lambda: len(prober.order) > RENEWALS, (RENEWALS + 1) * LIFETIME + 30,
                     f"{RENEWALS} renewals at the edge")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{pod_logs(cdn.cdn)}\n{pod_logs(cdn.namespace)}\n"
                             f"{dno.operator.log()[-4000:]}") from None
    for older, newer in zip(prober.order, prober.order[1:]):
        assert prober.seen[older].last_seen < prober.seen[older].not_after.timestamp()
        assert prober.seen[newer].not_before < prober.seen[older].not_after
    print(f"\n[two clusters, node] {len(prober.order)} certificates served by the edge, "
          f"{prober.handshakes} handshakes, none failed")
    print(f"[two clusters, node] CDN apply (StarIssuer + StarOrder) -> first certificate "
          f"served by the edge: {first_certificate:.1f} s")

    refused = wait_condition(kubectl, "starorder", "evil", cdn.cdn, status="False", timeout=30)
    violations = refused["status"].get("violations") or []
    assert refused["status"]["phase"] == "Failed", refused["status"]
    assert violations and all(v.get("field") for v in violations), refused["status"]
    assert outside in refused["status"]["conditions"][0]["message"], refused["status"]
    assert secret_tls(kubectl, cdn.cdn, "evil-tls") is None  # no certificate (a staged key)
    order = wait_condition(kubectl, "starorder", "www", cdn.cdn, status="True", reason="Issued")
    star_url = order["status"]["starCertificateURL"]
    assert star_url.startswith(star_ca.base_url + "/"), star_url  # the CA's: fetched directly
    assert dns_server.query(host, "CNAME") == [alias]

    # 4. The DNO deletes the Delegation: the CA refuses, the CDN's StarOrder says why.
    deleted = time.monotonic()
    dno.kubectl.run("delete", "delegation", "cdn", "-n", dno.grants, "--wait=false")
    problem = wait_for(lambda: (p := star_certificate_problem(star_url, root_pem))["status"]
                       == 403 and p, 60, "star-ca refusing the star-certificate URL")
    refusing = time.monotonic() - deleted
    assert problem["type"].endswith(":autoRenewalCanceled"), problem
    print(f"[two clusters, node] DNO deletes the Delegation -> star-ca refuses the next "
          f"certificate: {refusing:.1f} s ({star_url} -> {problem['status']} "
          f"{problem['type']})")
    said = wait_condition(kubectl, "starorder", "www", cdn.cdn, status="False",
                          reason="Canceled", timeout=LIFETIME + 30)
    assert "autoRenewalCanceled" in said["status"]["conditions"][0]["message"], said["status"]
    wait_for(lambda: dns_server.query(host, "CNAME") == [], 30, "the CNAME gone from BIND")

    # 5. The edge keeps serving the Secret's last certificate until it expires.
    tls = secret_tls(kubectl, cdn.cdn, secret)
    assert tls is not None, "secretPolicy Retain keeps the Secret"
    last = x509.load_pem_x509_certificates(tls[0])[0]
    kept = prober.keeps_until_expiry(last)
    print(f"[two clusters, node] the edge served the last certificate (serial "
          f"{last.serial_number:x}) until "
          f"{last.not_valid_after_utc.timestamp() - kept.last_seen:.1f} s before it expired")

    # Nothing any of the three identities asked for was refused, and the CDN's pod never
    # restarted.
    assert refusals(dno.operator.log()) == []
    assert refusals(dno.front_end.log_path.read_text()) == []
    assert refusals(pod_logs(cdn.namespace)) == []
    assert chart_on_node.pods_ready(kubectl, cdn.namespace,
                                    "app.kubernetes.io/component=operator", 1)

"""End to end on a real node: the chart's operator and embedded CA run as pods, and a CDN edge pod
(`examples/cdn-edge.yaml`: nginx, reloaded by a watcher of the mounted Secret) serves every renewed
STAR certificate over TLS.

The node (star_devenv.node.LocalNode) has no pod network and no kube-proxy, so everything runs
with `hostNetwork: true` on loopback ports picked free by the test: the chart's `hostNetwork` and
`listenAddress: 127.0.0.1`; the operator and the CA's root publisher reach the API server at
127.0.0.1:<its port> (`operator.extraEnv` / `ca.extraEnv` set KUBERNETES_SERVICE_HOST/PORT; the
API server's certificate has that IP and is the SA token's ca.crt). The CA keeps its state on an
emptyDir (no storage provisioner), asks the host's BIND 9 for dns-01 and CAA, and is reached by
the operator at https://127.0.0.1:<ca port>/directory with the chart's published root Secret as
the CA bundle.

The test applies a StarOrder (short lifetime, lifetime-adjust = lifetime so that consecutive
certificates overlap by more than the kubelet's Secret refresh delay) and connects to the edge
with TLS (SNI = the delegated name, verified against the CA root) every PROBE_INTERVAL seconds.
Every handshake must succeed once the first one has; it must see CERTIFICATES distinct
certificates; a name nginx has no certificate for gets no handshake; a request begun before a
reload is answered after it (the old worker finishes it: a graceful reload). After the
StarOrder is deleted the CA answers the star-certificate URL with 403 autoRenewalCanceled, and
the edge keeps serving the last certificate until shortly before it expires. It prints: the time
from `kubectl apply` of the StarOrder to the first handshake, the lag from each renewed
certificate's publication at the CA (its notBefore; the CA publishes each certificate exactly
then) to the edge serving it (p50/p99), split into its stages: the operator writing the Secret
(seen by a watch of it), the kubelet swapping the pod's volume (the watcher's
inotify event) and the reload-to-serving time: from that swap to nginx serving the new
certificate.
"""
from __future__ import annotations

import base64
import math
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from star_devenv import chart_on_node, edge
from star_devenv.edge import HeldRequest, Prober, reload_events, star_certificate_problem
from star_devenv.helm import Helm
from star_devenv.chart_on_node import Release, http_ok, pod_logs, pods_ready
from star_devenv.kubectl import Kubectl
from star_devenv.node import LocalNode
from tests.integration.operator.op_env import (b64, csr_template_manifest, get, secret_tls,
                                               wait_condition)
from tests.waiting import wait_for

pytestmark = pytest.mark.node

#: Each certificate is nominally valid LIFETIME seconds, back-dated by LIFETIME_ADJUST: the CA
#: publishes certificate i+1 LIFETIME_ADJUST seconds before certificate i expires. That overlap
#: must exceed operator fetch + Secret write + the kubelet's Secret refresh (syncFrequency 10 s
#: plus jitter; up to ~15 s measured) + the edge's 0.5 s poll, or a client sees an expired one.
LIFETIME = 30
LIFETIME_ADJUST = 30
CERTIFICATES = 3        # distinct certificates the edge must serve (the first + 2 renewals)
PROBE_INTERVAL = 0.05   # fine enough to time a reload (tens of ms)


@pytest.fixture(scope="module")
def release(node: LocalNode, control_plane: Any, kubectl: Kubectl, dns_server: Any,
            project_image: str) -> Iterator[Release]:
    suffix = uuid.uuid4().hex[:6]
    rel = Release.new(f"e2e-{suffix}", f"star-e2e-{suffix}", f"cdn-{suffix}")
    values = chart_on_node.chart_values(rel, project_image, Path(control_plane.kubeconfig),
                                    f"{dns_server.host}:{dns_server.port}")
    helm = Helm(control_plane.kubeconfig)
    chart_on_node.install(helm, kubectl, rel, values)
    try:
        yield rel
    finally:
        try:
            chart_on_node.uninstall(kubectl, helm, rel, template=f"edge-{rel.name}")
        finally:
            helm.close()
        assert not kubectl.run("get", "all", "-A", "-l",
                               f"app.kubernetes.io/instance={rel.name}", "-o", "name"
                               ).stdout.strip()


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def swap_before(events: list[float], moment: float) -> float:
    """The last volume swap the watcher saw before `moment`; -inf if none."""
    return max((t for t in events if t <= moment), default=-math.inf)


def reload_to_serving(events: list[float], renewals: list[edge.Seen]) -> list[float]:
    """For each renewed certificate, the time from the last volume swap the watcher saw before
    the edge first served it to that first handshake (renewals with no swap before are left
    out)."""
    return [seen.first_seen - swap_before(events, seen.first_seen) for seen in renewals
            if swap_before(events, seen.first_seen) > -math.inf]


class SecretWrites:
    """serial -> when the Secret first held it, from a watch of the Secret (what the API server
    sends a watcher, sub-second; the operator posts at most one Rotated Event per 10 min, so
    Events no longer time each write)."""

    def __init__(self, kubectl: Kubectl, namespace: str, name: str) -> None:
        self.at: dict[int, float] = {}
        # a list watch by name: it may start before the Secret exists
        self.proc = kubectl.watch("secrets", "-n", namespace,
                                  f"--field-selector=metadata.name={name}",
                                  "-o", r'jsonpath={.data.tls\.crt}{"\n"}')
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            when = time.time()
            if line.strip():
                chain = base64.b64decode(line.strip())
                serial = x509.load_pem_x509_certificate(chain).serial_number
                self.at.setdefault(serial, when)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        self.thread.join(10)


# ------------------------------------------------------------------------------ the test

@pytest.mark.timeout(1800)  # a fresh machine builds the image first (debootstrap)
def test_chart_on_node_serves_every_renewal_through_a_cdn_edge(
        release: Release, kubectl: Kubectl, dns_server: Any, project_image: str) -> None:
    rel, cdn = release, release.cdn
    # 1. The operator and the CA (+ its root publisher) run as pods and pass their probes.
    chart_on_node.wait_pods_ready(kubectl, rel)
    loopback = "http://127.0.0.1:{}/{}"
    try:
        wait_for(lambda: http_ok(loopback.format(rel.ports["health"], "healthz")), 30,
                 "the operator's /healthz on the host's loopback")
        wait_for(lambda: http_ok(loopback.format(rel.ports["metrics"], "metrics")), 30,
                 "the operator's /metrics on the host's loopback")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{pod_logs(rel.namespace)}") from None
    root_pem = chart_on_node.published_root(kubectl, rel)

    # 2. The DNO: TSIG Secret and a CsrTemplate naming the CA pod and the chart's root Secret.
    template = f"edge-{rel.name}"
    kubectl.apply({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                   "metadata": {"name": "tsig", "namespace": rel.namespace},
                   "data": {"secret": b64(dns_server.tsig_secret)}})
    kubectl.apply(csr_template_manifest(
        template, dns_server, [cdn], directory_url=rel.directory_url,
        account_key_ref={"name": "acme-account"},
        ca_bundle_ref={"name": rel.root_secret, "key": "ca.crt"},
        tsig_secret_ref={"name": "tsig"}))
    try:
        wait_condition(kubectl, "csrtemplate", template, None, status="True", timeout=90)
    except AssertionError as exc:
        status = (get(kubectl, "csrtemplate", template) or {}).get("status")
        raise AssertionError(f"{exc}: {status}\n{pod_logs(rel.namespace)}") from None

    # 3. The CDN edge from examples/, on a free loopback port, mounting the StarOrder's Secret.
    order = f"www-{rel.name}"
    dns_name = f"{order}.{dns_server.zone}"
    secret = f"{order}-tls"
    edge.deploy(kubectl, cdn, project_image, rel.ports["edge"], secret, [dns_name])

    # 4. The StarOrder; then TLS handshakes until CERTIFICATES distinct certificates were served.
    prober = Prober(rel.ports["edge"], dns_name, root_pem, interval=PROBE_INTERVAL)
    written = SecretWrites(kubectl, cdn, secret)
    applied = time.time()
    kubectl.apply({"apiVersion": "star.operator.dev/v1alpha1", "kind": "StarOrder",
                   "metadata": {"name": order, "namespace": cdn},
                   "spec": {"csrTemplateName": template, "dnsNames": [dns_name],
                            "lifetime": f"{LIFETIME}s", "lifetimeAdjust": f"{LIFETIME_ADJUST}s",
                            "duration": "1h", "secretName": secret}})
    try:
        prober.until(lambda: prober.order, 180, "the first handshake")
        first_handshake = prober.seen[prober.order[0]].first_seen - applied
        assert prober.refuses(f"not-{dns_name}"), "nginx served a name it has no certificate for"
        # A request begun now is answered after the next reload, by the old worker.
        held = HeldRequest(prober)
        prober.until(lambda: prober.order[-1] != held.serial, 2 * LIFETIME + 30,
                     "the renewal after the held request began")
        answered = held.finish()
        assert answered.startswith("HTTP/1.1 200"), answered
        prober.until(lambda: len(prober.order) >= CERTIFICATES,
                     (CERTIFICATES + 1) * LIFETIME + 60, f"{CERTIFICATES} distinct certificates")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{pod_logs(cdn)}\n{pod_logs(rel.namespace)}") from None
    finally:
        written.stop()
    lags = [prober.seen[s].first_seen - prober.seen[s].not_before.timestamp()
            for s in prober.order[1:]]
    # Each certificate was still valid when the next one replaced it (no handshake failed).
    for older, newer in zip(prober.order, prober.order[1:]):
        assert prober.seen[older].last_seen < prober.seen[older].not_after.timestamp()
        assert prober.seen[newer].not_before < prober.seen[older].not_after

    print(f"\n[e2e node] {len(prober.order)} certificates served, {prober.handshakes} "
          "handshakes, none failed")
    print(f"[e2e node] kubectl apply StarOrder -> first handshake with its certificate: "
          f"{first_handshake:.1f} s")
    print(f"[e2e node] CA publication (notBefore) -> edge serves it, over {len(lags)} renewals: "
          f"p50 {percentile(lags, 50):.1f} s, p99 {percentile(lags, 99):.1f} s "
          f"(each: {', '.join(f'{x:.1f}' for x in lags)})")
    renewals = [prober.seen[s] for s in prober.order[1:]]
    swaps = reload_events(cdn)
    reloads = reload_to_serving(swaps, renewals)
    assert len(reloads) == len(lags), (reloads, pod_logs(cdn))
    kubelet = [swap_before(swaps, seen.first_seen) - written.at[seen.serial] for seen in renewals
               if seen.serial in written.at]
    assert len(kubelet) == len(renewals), f"a renewal the Secret's watch missed: {written.at}"
    print(f"[e2e node] Secret written (its watch) -> kubelet swaps the "
          f"pod's volume: p50 {percentile(kubelet, 50):.1f} s, max {max(kubelet):.1f} s "
          f"(each: {', '.join(f'{x:.1f}' for x in kubelet)})")
    print(f"[e2e node] Secret volume swapped (watcher's inotify event) -> nginx serves the new "
          f"certificate, over {len(reloads)} reloads: p50 {percentile(reloads, 50) * 1000:.0f} ms, "
          f"max {max(reloads) * 1000:.0f} ms (probe every {PROBE_INTERVAL * 1000:.0f} ms; "
          f"each: {', '.join(f'{x * 1000:.0f}' for x in reloads)})")
    print(f"[e2e node] a request begun before a reload was answered after it: "
          f"{answered}")

    # 5. Delete the StarOrder: the operator cancels it at the CA; the CA says so to anyone.
    status = wait_condition(kubectl, "starorder", order, cdn, status="True")["status"]
    star_url = status["starCertificateURL"]
    kubectl.run("delete", "starorder", order, "-n", cdn, "--wait=false")
    prober.until(lambda: get(kubectl, "starorder", order, cdn) is None, 60,
                 "the StarOrder to go (its finalizer cancels the order)")
    problem = star_certificate_problem(star_url, root_pem)
    assert problem["status"] == 403 and problem["type"].endswith(":autoRenewalCanceled"), problem

    # 6. The edge keeps serving the last certificate (the one the Secret kept) until it expires.
    tls = secret_tls(kubectl, cdn, secret)
    assert tls is not None, "secretPolicy Retain keeps the Secret"
    last = x509.load_pem_x509_certificates(tls[0])[0]
    kept = prober.keeps_until_expiry(last)

    # The operator and the CA never restarted (liveness probes passed all along).
    assert pods_ready(kubectl, rel.namespace, "app.kubernetes.io/component=operator", 1)
    assert pods_ready(kubectl, rel.namespace, "app.kubernetes.io/component=ca", 2)
    print(f"[e2e node] after deletion the edge served serial {last.serial_number:x} until "
          f"{last.not_valid_after_utc.timestamp() - kept.last_seen:.1f} s before it expired")
    print(f"[e2e node] canceled order: {star_url} -> {problem['status']} {problem['type']}")


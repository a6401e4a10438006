"""End to end on a real node: the chart's operator and embedded CA run as pods, and a CDN edge pod
(`examples/cdn-edge.yaml`) serves every renewed STAR certificate over TLS.

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
certificates. After the StarOrder is deleted the CA answers the star-certificate URL with 403
autoRenewalCanceled, and the edge keeps serving the last certificate until shortly before it
expires. It prints: the time from `kubectl apply` of the StarOrder to the first handshake, and
the lag from each renewed certificate's publication at the CA (its notBefore; the CA publishes
each certificate exactly then) to the edge serving it (p50/p99).
"""
from __future__ import annotations

import base64
import datetime as dt
import json
import math
import socket
import ssl
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from cryptography import x509

from star_devenv.kubectl import Kubectl
from star_devenv.node import POD_LOG_DIR, LocalNode
from star_devenv.processes import free_port
from tests.e2e.helm_helpers import ROOT, Helm
from tests.integration.operator.op_env import b64, get, secret_tls, wait_condition
from tests.waiting import wait_for

pytestmark = pytest.mark.node

EDGE_YAML = ROOT / "examples" / "cdn-edge.yaml"
#: Each certificate is nominally valid LIFETIME seconds, back-dated by LIFETIME_ADJUST: the CA
#: publishes certificate i+1 LIFETIME_ADJUST seconds before certificate i expires. That overlap
#: must exceed operator fetch + Secret write + the kubelet's Secret refresh (syncFrequency 10 s
#: plus jitter; up to ~15 s measured) + the edge's 0.5 s poll, or a client sees an expired one.
LIFETIME = 30
LIFETIME_ADJUST = 30
CERTIFICATES = 5        # distinct certificates the edge must serve (the first + 4 renewals)
PROBE_INTERVAL = 0.2    # pacing of the TLS probe loop
#: Operator tunables for second-scale lifetimes (as in test_chart_rbac).
FAST = {"STAR_OPERATOR_BACKOFF_MIN": "0.5", "STAR_OPERATOR_BACKOFF_MAX": "5",
        "STAR_OPERATOR_DELETE_BACKOFF_MAX": "2", "STAR_OPERATOR_POLL_MIN": "0.2",
        "STAR_OPERATOR_FETCH_JITTER_MAX": "0.2"}


def apiserver_port(kubeconfig: Path) -> int:
    config = yaml.safe_load(kubeconfig.read_text())
    current = next(c for c in config["contexts"] if c["name"] == config["current-context"])
    cluster = next(c for c in config["clusters"] if c["name"] == current["context"]["cluster"])
    url = urlsplit(cluster["cluster"]["server"])
    assert url.hostname == "127.0.0.1", url
    return url.port or 443


def pod_logs(ns: str) -> str:
    """The kubelet's container log files of every pod in the namespace (no `kubectl logs`
    on a node whose IP is loopback)."""
    out = []
    for path in sorted(POD_LOG_DIR.glob(f"{ns}_*/*/*.log")):
        text = path.read_text(errors="replace")
        out.append(f"--- {path.relative_to(POD_LOG_DIR)}\n{text[-4000:]}")
    return "\n".join(out) or f"(no container logs for namespace {ns})"


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def pods_ready(kubectl: Kubectl, ns: str, selector: str, containers: int) -> list[dict[str, Any]]:
    """The selected pods once each is Ready with every container running and never restarted;
    fail at once (with the logs) on a restart."""
    pods = kubectl.get_json("pods", "-n", ns, "-l", selector)["items"]
    if not pods:
        return []
    for p in pods:
        statuses = p["status"].get("containerStatuses") or []
        restarted = [s["name"] for s in statuses if s.get("restartCount", 0)]
        if restarted:
            raise AssertionError(f"{p['metadata']['name']}: {restarted} restarted\n{pod_logs(ns)}")
        ready = next((c for c in p["status"].get("conditions") or [] if c["type"] == "Ready"),
                     None)
        if len(statuses) != containers or not (ready and ready["status"] == "True") \
                or not all("running" in s["state"] for s in statuses):
            return []
    return pods


@dataclass
class Release:
    name: str
    namespace: str
    cdn: str
    ports: dict[str, int]

    @property
    def root_secret(self) -> str:
        return f"{self.name}-star-operator-ca-root"

    @property
    def directory_url(self) -> str:
        return f"https://127.0.0.1:{self.ports['ca']}/directory"


@pytest.fixture(scope="module")
def release(node: LocalNode, control_plane: Any, kubectl: Kubectl, dns_server: Any,
            project_image: str) -> Iterator[Release]:
    suffix = uuid.uuid4().hex[:6]
    rel = Release(f"e2e-{suffix}", f"star-e2e-{suffix}", f"cdn-{suffix}",
                  {"health": free_port(), "metrics": free_port(), "ca": free_port(),
                   "edge": free_port()})
    for ns in (rel.namespace, rel.cdn):
        kubectl.run("create", "namespace", ns)
    repository, _, tag = project_image.rpartition(":")
    api = [{"name": "KUBERNETES_SERVICE_HOST", "value": "127.0.0.1"},
           {"name": "KUBERNETES_SERVICE_PORT",
            "value": str(apiserver_port(Path(control_plane.kubeconfig)))}]
    values = {
        "image": {"repository": repository, "tag": tag, "pullPolicy": "Never"},
        "hostNetwork": True, "listenAddress": "127.0.0.1",
        "operator": {"env": FAST, "extraEnv": api, "healthPort": rel.ports["health"]},
        "livenessProbe": {"initialDelaySeconds": 10, "periodSeconds": 5, "timeoutSeconds": 5,
                          "failureThreshold": 3},
        "metrics": {"port": rel.ports["metrics"]},
        "ca": {"enabled": True, "port": rel.ports["ca"], "extraEnv": api,
               "dnsServer": f"{dns_server.host}:{dns_server.port}", "minLifetime": 1,
               "maxDuration": 86400, "persistence": {"enabled": False},
               "publisher": {"intervalSeconds": 1}},
    }
    helm = Helm(control_plane.kubeconfig)
    helm.install(rel.name, rel.namespace, values)
    try:
        yield rel
    finally:
        teardown(kubectl, helm, rel)


def teardown(kubectl: Kubectl, helm: Helm, rel: Release) -> None:
    kubectl.run("delete", "deployment", "cdn-edge", "-n", rel.cdn, "--ignore-not-found",
                "--wait=false", check=False)
    # A failed test may leave a StarOrder holding the finalizer while the operator goes away.
    for name in kubectl.run("get", "starorders", "-n", rel.cdn, "-o", "name",
                            check=False).stdout.split():
        kubectl.run("patch", name, "-n", rel.cdn, "--type=merge",
                    "-p", '{"metadata":{"finalizers":null}}', check=False)
    kubectl.run("delete", "csrtemplate", f"edge-{rel.name}", "--ignore-not-found",
                "--wait=false", check=False)
    helm.uninstall(rel.name, rel.namespace)
    helm.close()
    for ns in (rel.namespace, rel.cdn):
        wait_for(lambda ns=ns: not kubectl.get_json("pods", "-n", ns)["items"], 90,
                 f"the pods of namespace {ns} to go")
        kubectl.run("delete", "namespace", ns, "--wait=false", check=False)
    assert not kubectl.run("get", "all", "-A", "-l", f"app.kubernetes.io/instance={rel.name}",
                           "-o", "name").stdout.strip()


# ------------------------------------------------------------------------------ the edge's client

@dataclass
class Seen:
    serial: int
    not_before: dt.datetime
    not_after: dt.datetime
    first_seen: float  # time.time()
    last_seen: float


@dataclass
class Prober:
    """TLS handshakes with the edge, SNI = the delegated name, verified against the CA root."""
    port: int
    server_name: str
    root_pem: str
    seen: dict[int, Seen] = field(default_factory=dict)
    order: list[int] = field(default_factory=list)
    handshakes: int = 0

    def __post_init__(self) -> None:
        self.ctx = ssl.create_default_context(cadata=self.root_pem)

    def handshake(self) -> Seen | None:
        """The certificate served; None if the edge does not listen yet (connection refused).
        A failed TLS handshake raises."""
        try:
            raw = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        except ConnectionRefusedError:
            return None
        with raw, self.ctx.wrap_socket(raw, server_hostname=self.server_name) as tls:
            der = tls.getpeercert(binary_form=True)
        assert der is not None
        now = time.time()
        cert = x509.load_der_x509_certificate(der)
        self.handshakes += 1
        s = self.seen.get(cert.serial_number)
        if s is None:
            s = self.seen[cert.serial_number] = Seen(
                cert.serial_number, cert.not_valid_before_utc,
                cert.not_valid_after_utc, now, now)
            self.order.append(cert.serial_number)
            print(f"edge serves certificate #{len(self.order)} serial {cert.serial_number:x} "
                  f"notBefore {s.not_before:%H:%M:%S} notAfter {s.not_after:%H:%M:%S} "
                  f"first seen {dt.datetime.fromtimestamp(now, dt.timezone.utc):%H:%M:%S.%f}")
        s.last_seen = now
        return s

    def until(self, done: Any, timeout: float, what: str) -> None:
        """Probe every PROBE_INTERVAL seconds until done(); every handshake must succeed."""
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() >= deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {what} "
                                     f"({len(self.order)} certificates seen)")
            try:
                if self.handshake() is None and self.order:
                    raise AssertionError("the edge stopped listening after it had served")
            except (ssl.SSLError, OSError) as exc:
                raise AssertionError(
                    f"handshake {self.handshakes + 1} with the edge failed after "
                    f"{len(self.order)} certificates: {exc!r}") from exc
            time.sleep(PROBE_INTERVAL)


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


# ------------------------------------------------------------------------------ the test

@pytest.mark.timeout(1800)  # a fresh machine builds the image first (debootstrap)
def test_chart_on_node_serves_every_renewal_through_a_cdn_edge(
        release: Release, kubectl: Kubectl, dns_server: Any, project_image: str) -> None:
    rel, cdn = release, release.cdn
    # 1. The operator and the CA (+ its root publisher) run as pods and pass their probes.
    wait_for(lambda: pods_ready(kubectl, rel.namespace,
                                "app.kubernetes.io/component=operator", 1),
             180, "the operator pod Ready", interval=0.5)
    wait_for(lambda: pods_ready(kubectl, rel.namespace, "app.kubernetes.io/component=ca", 2),
             180, "the CA pod Ready", interval=0.5)
    try:
        wait_for(lambda: http_ok(f"http://127.0.0.1:{rel.ports['health']}/healthz"), 30,
                 "the operator's /healthz on the host's loopback")
        wait_for(lambda: http_ok(f"http://127.0.0.1:{rel.ports['metrics']}/metrics"), 30,
                 "the operator's /metrics on the host's loopback")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{pod_logs(rel.namespace)}") from None
    root = wait_for(lambda: ((get(kubectl, "secret", rel.root_secret, rel.namespace) or {})
                             .get("data") or {}).get("ca.crt"), 60,
                    "the CA root published by the CA pod's sidecar")
    root_pem = base64.b64decode(root).decode()

    # 2. The DNO: TSIG Secret and a CsrTemplate naming the CA pod and the chart's root Secret.
    template = f"edge-{rel.name}"
    kubectl.apply({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                   "metadata": {"name": "tsig", "namespace": rel.namespace},
                   "data": {"secret": b64(dns_server.tsig_secret)}})
    kubectl.apply({
        "apiVersion": "star.operator.dev/v1alpha1", "kind": "CsrTemplate",
        "metadata": {"name": template},
        "spec": {
            "template": {
                "keyTypes": [{"PublicKeyType": "id-ecPublicKey", "namedCurve": "secp256r1",
                              "SignatureType": "ecdsa-with-SHA256"}],
                "subject": {"commonName": "**"},
                "extensions": {"subjectAltName": {"DNS": ["**"]},
                               "keyUsage": ["digitalSignature"],
                               "extendedKeyUsage": ["serverAuth"]}},
            "domains": [dns_server.zone], "allowedNamespaces": [cdn],
            "star": {"minLifetime": "1s", "maxLifetime": "1d", "maxDuration": "1d"},
            "acme": {"directoryURL": rel.directory_url,
                     "accountKeySecretRef": {"name": "acme-account"},
                     "caBundleSecretRef": {"name": rel.root_secret, "key": "ca.crt"}},
            "dns01": {"rfc2136": {
                "nameserver": f"{dns_server.host}:{dns_server.port}", "zone": dns_server.zone,
                "tsigKeyName": dns_server.tsig_key_name,
                "tsigAlgorithm": dns_server.tsig_algorithm,
                "tsigSecretSecretRef": {"name": "tsig"}}}}})
    try:
        wait_condition(kubectl, "csrtemplate", template, None, status="True", timeout=90)
    except AssertionError as exc:
        status = (get(kubectl, "csrtemplate", template) or {}).get("status")
        raise AssertionError(f"{exc}: {status}\n{pod_logs(rel.namespace)}") from None

    # 3. The CDN edge from examples/, on a free loopback port, mounting the StarOrder's Secret.
    order = f"www-{rel.name}"
    dns_name = f"{order}.{dns_server.zone}"
    secret = f"{order}-tls"
    kubectl.run("apply", "-f", "-", input=edge_manifests(cdn, project_image,
                                                           rel.ports["edge"], secret))
    wait_for(lambda: kubectl.get_json("pods", "-n", cdn, "-l", "app=cdn-edge")["items"] and all(
        s.get("state", {}).get("running") for p in kubectl.get_json(
            "pods", "-n", cdn, "-l", "app=cdn-edge")["items"]
        for s in p["status"].get("containerStatuses") or [{}]), 120,
        "the edge container running (waiting for its Secret)", interval=0.5)

    # 4. The StarOrder; then TLS handshakes until CERTIFICATES distinct certificates were served.
    prober = Prober(rel.ports["edge"], dns_name, root_pem)
    applied = time.time()
    kubectl.apply({"apiVersion": "star.operator.dev/v1alpha1", "kind": "StarOrder",
                   "metadata": {"name": order, "namespace": cdn},
                   "spec": {"csrTemplateName": template, "dnsNames": [dns_name],
                            "lifetime": f"{LIFETIME}s", "lifetimeAdjust": f"{LIFETIME_ADJUST}s",
                            "duration": "1h", "secretName": secret}})
    try:
        prober.until(lambda: prober.order, 180, "the first handshake")
        first_handshake = prober.seen[prober.order[0]].first_seen - applied
        prober.until(lambda: len(prober.order) >= CERTIFICATES,
                     (CERTIFICATES + 1) * LIFETIME + 60, f"{CERTIFICATES} distinct certificates")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{pod_logs(cdn)}\n{pod_logs(rel.namespace)}") from None
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
    last_after = last.not_valid_after_utc.timestamp()
    prober.until(lambda: last.serial_number in prober.seen, 30,
                 "the edge to serve the Secret's last certificate")
    served_last = prober.seen[last.serial_number].last_seen
    kept_until = last_after - 2
    prober.until(lambda: prober.seen[last.serial_number].last_seen >= kept_until,
                 last_after - time.time() + 5, "the last certificate's expiry")
    late = [s for s in prober.seen.values()
            if s.serial != last.serial_number and s.last_seen > served_last]
    assert not late, f"the edge went back to an older certificate: {late}"

    # The operator and the CA never restarted (liveness probes passed all along).
    assert pods_ready(kubectl, rel.namespace, "app.kubernetes.io/component=operator", 1)
    assert pods_ready(kubectl, rel.namespace, "app.kubernetes.io/component=ca", 2)
    print(f"[e2e node] after deletion the edge served serial {last.serial_number:x} until "
          f"{last_after - prober.seen[last.serial_number].last_seen:.1f} s before it expired")
    print(f"[e2e node] canceled order: {star_url} -> {problem['status']} {problem['type']}")


def edge_manifests(ns: str, image: str, port: int, secret: str) -> str:
    """examples/cdn-edge.yaml for this run: namespace, image, port, Secret."""
    docs = [d for d in yaml.safe_load_all(EDGE_YAML.read_text()) if d]
    for d in docs:
        d["metadata"]["namespace"] = ns
        if d["kind"] != "Deployment":
            continue
        pod = d["spec"]["template"]["spec"]
        pod["terminationGracePeriodSeconds"] = 1
        c = pod["containers"][0]
        c["image"], c["imagePullPolicy"] = image, "Never"
        for env in c["env"]:
            if env["name"] == "LISTEN":
                env["value"] = f"127.0.0.1:{port}"
        c["readinessProbe"]["tcpSocket"]["port"] = port
        for v in pod["volumes"]:
            if "secret" in v:
                v["secret"]["secretName"] = secret
    return "\n---\n".join(json.dumps(d) for d in docs)


def star_certificate_problem(url: str, root_pem: str) -> dict[str, Any]:
    """GET the star-certificate URL without authentication (RFC 8739 §3.3); the problem
    document it answers with (status included)."""
    ctx = ssl.create_default_context(cadata=root_pem)
    try:
        with urllib.request.urlopen(url, timeout=10, context=ctx) as resp:
            return {"status": resp.status, "type": "(a certificate)"}
    except urllib.error.HTTPError as exc:
        return {**json.loads(exc.read() or b"{}"), "status": exc.code}

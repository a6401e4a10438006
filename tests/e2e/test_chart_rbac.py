"""Proof that the chart's RBAC is enough, and no more: the operator runs as the chart's own
ServiceAccount through a whole StarOrder flow, in both RBAC modes.

For each mode (cluster-wide; limited to one namespace) the chart is `helm install`ed into the real
control plane; the test takes the token the controller-manager minted for the chart's
ServiceAccount, writes a kubeconfig holding only that token, and runs the real `star-operator`
process on the host (there is no node: the chart's pod stays Pending) with the arguments and
environment of the installed Deployment. The chart's embedded-CA root publisher runs the same way
with the token of the CA's ServiceAccount, copying the host-run star-ca's root.pem into the
chart's root Secret, which the CsrTemplate then names as its CA bundle. Against the real star-ca
and BIND 9 it checks: CsrTemplate Ready (account key Secret created), StarOrder Ready, the TLS
Secret written, a rotation, cancellation at the CA when the StarOrder is deleted (and the Secret
kept or deleted per secretPolicy), a Warning Event for a broken CsrTemplate; that the operator's
log holds no refused API call; and what either identity may not do.
"""
from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from star_devenv.ca import LocalCA
from star_devenv.chart_on_node import FAST
from star_devenv.controlplane import LocalControlPlane
from star_devenv.kubectl import Kubectl
from star_devenv.processes import free_port
from tests.e2e.helm_helpers import CHART, Helm
from tests.integration.operator.op_env import (OPERATOR_NS, StarEnv, ca_orders, events, get,
                                               secret_tls, wait_condition)
from tests.waiting import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.dns]

#: How a refused API call shows in the operator's log (kopf's APIForbiddenError and warnings,
#: the operator's own "403 Forbidden: ..." ApiError).
REFUSALS = ("Forbidden", "forbidden", "Not enough permissions")


@dataclass
class Installed:
    mode: str
    release: str
    namespace: str       # the release's namespace
    watched: str         # where the StarOrder goes
    other: str           # a namespace the limited mode was not given
    service_account: str
    token: str
    kubeconfig: Path     # only the ServiceAccount's token
    ca_kubeconfig: Path  # only the token of the embedded CA's ServiceAccount

    @property
    def root_secret(self) -> str:
        return f"{self.release}-star-operator-ca-root"

    @property
    def limited(self) -> bool:
        return self.mode == "namespace-limited"

    def as_sa(self) -> Kubectl:
        return Kubectl(self.kubeconfig)


def new_namespace(kubectl: Kubectl, prefix: str) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    kubectl.run("create", "namespace", name)
    return name


def minted_token(kubectl: Kubectl, control_plane: Any, namespace: str, sa: str) -> str:
    """The token Secret kube-controller-manager created for the ServiceAccount (1.20 mints them;
    on a cluster >= 1.24 given by KUBECONFIG there are none, so ask the TokenRequest API)."""
    if not isinstance(control_plane, LocalControlPlane):
        return kubectl.run("create", "token", sa, "-n", namespace, "--duration=2h").stdout.strip()

    def secret() -> dict[str, Any] | None:
        for ref in kubectl.get_json("serviceaccount", sa, "-n", namespace).get("secrets") or []:
            s = kubectl.get_json("secret", ref["name"], "-n", namespace)
            if s["type"] == "kubernetes.io/service-account-token" and (
                    s.get("data") or {}).get("token"):
                return s
        return None
    found = wait_for(secret, 60, f"the token Secret of ServiceAccount {namespace}/{sa}")
    return base64.b64decode(found["data"]["token"]).decode()


def token_kubeconfig(admin_kubeconfig: Path, token: str, namespace: str, path: Path) -> Path:
    """The admin kubeconfig's cluster (server, CA) with the token as the only credential; the
    context namespace is the release namespace, as it is in the pod."""
    admin = yaml.safe_load(admin_kubeconfig.read_text())
    current = next(c for c in admin["contexts"] if c["name"] == admin["current-context"])
    cluster = next(c for c in admin["clusters"] if c["name"] == current["context"]["cluster"])
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "chart-sa",
        "clusters": [cluster],
        "users": [{"name": "chart-sa", "user": {"token": token}}],
        "contexts": [{"name": "chart-sa", "context": {"cluster": cluster["name"],
                                                      "user": "chart-sa",
                                                      "namespace": namespace}}]}))
    path.chmod(0o600)
    return path


@pytest.fixture(scope="module", params=["cluster-wide", "namespace-limited"])
def installed(request: pytest.FixtureRequest, control_plane: Any, kubectl: Kubectl,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    mode = request.param
    ns, watched, other = (new_namespace(kubectl, p) for p in ("rbac", "cdn", "other"))
    if not kubectl.exists("namespace", OPERATOR_NS):  # where StarEnv keeps the DNO's Secrets
        kubectl.run("create", "namespace", OPERATOR_NS)
    release = f"rbac-{uuid.uuid4().hex[:6]}"
    values: dict[str, Any] = {"operator": {"secretsNamespace": OPERATOR_NS, "env": FAST},
                              "ca": {"enabled": True}}
    if mode == "namespace-limited":
        values["watchNamespaces"] = [watched]
    helm = Helm(control_plane.kubeconfig)
    helm.install(release, ns, values)
    sa = f"{release}-star-operator"
    token = minted_token(kubectl, control_plane, ns, sa)
    kubeconfig = token_kubeconfig(Path(control_plane.kubeconfig), token, ns,
                                  tmp_path_factory.mktemp(mode) / "kubeconfig")
    ca_token = minted_token(kubectl, control_plane, ns, f"{sa}-ca")
    ca_kubeconfig = token_kubeconfig(Path(control_plane.kubeconfig), ca_token, ns,
                                     kubeconfig.with_name("ca-kubeconfig"))
    yield Installed(mode, release, ns, watched, other, sa, token, kubeconfig, ca_kubeconfig)
    helm.uninstall(release, ns)
    helm.close()


@pytest.fixture(scope="module")
def star_ca(dns_server: Any) -> Iterator[LocalCA]:
    with LocalCA(dns_server=dns_server.server, min_lifetime=1, max_duration=86400) as ca:
        yield ca


def publish_root(installed: Installed, root_pem: Path) -> subprocess.CompletedProcess[str]:
    """The chart's root-publishing sidecar (files/publish-ca-root.py), run once on the host with
    the CA ServiceAccount's token, as the CA pod would run it."""
    env = {**os.environ, "KUBECONFIG": str(installed.ca_kubeconfig), "ROOT_PEM": str(root_pem),
           "SECRET_NAME": installed.root_secret, "SECRET_NAMESPACE": installed.namespace}
    return subprocess.run([sys.executable, str(CHART / "files" / "publish-ca-root.py"), "--once"],
                          env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def star_env(installed: Installed, kubectl: Kubectl, dns_server: Any,
             star_ca: LocalCA) -> Iterator[StarEnv]:
    """The DNO's Secrets (TSIG) and CsrTemplates, applied by the admin. The CA bundle is the
    chart's root Secret, filled by the chart's publisher from the (host-run) CA's root.pem."""
    proc = publish_root(installed, star_ca.root_pem_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    env = StarEnv(kubectl, dns_server, star_ca, suffix=uuid.uuid4().hex[:6])
    env.install()
    manifest = env.template_manifest(env.template, ["*"])
    manifest["spec"]["acme"]["caBundleSecretRef"] = {
        "name": installed.root_secret, "namespace": installed.namespace, "key": "ca.crt"}
    kubectl.apply(manifest)
    yield env
    for name in (env.template, env.restricted):
        kubectl.run("delete", "csrtemplate", name, "--ignore-not-found", "--wait=false")


class ChartOperator:
    """`star-operator` on the host with the installed Deployment's args and env, the
    ServiceAccount kubeconfig, and loopback ports for the liveness and metrics endpoints."""

    def __init__(self, deployment: dict[str, Any], kubeconfig: Path, log_path: Path) -> None:
        container = next(c for c in deployment["spec"]["template"]["spec"]["containers"]
                         if c["name"] == "operator")
        assert container["command"] == ["star-operator"]
        self.health_port, self.metrics_port = free_port(), free_port()
        self.args = [self._local(a) for a in container["args"]]
        self.env = {e["name"]: e["value"] for e in container.get("env", [])}
        self.kubeconfig, self.log_path = kubeconfig, log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def _local(self, arg: str) -> str:
        if arg.startswith("--liveness="):
            assert arg.startswith("--liveness=http://0.0.0.0:") and arg.endswith("/healthz")
            return f"--liveness=http://127.0.0.1:{self.health_port}/healthz"
        if arg.startswith("--metrics-port="):
            return f"--metrics-port={self.metrics_port}"
        return arg

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("KUBERNETES_", "STAR_OPERATOR_"))}
        env.update(self.env, KUBECONFIG=str(self.kubeconfig))
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [str(Path(sys.executable).with_name("star-operator")), *self.args],
                stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)

    def healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"star-operator exited ({self.proc.returncode}):\n{self.log()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}/healthz",
                                        timeout=2) as resp:
                return resp.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        except ProcessLookupError:
            pass
        self.proc = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def refusals(self) -> list[str]:
        return [line for line in self.log().splitlines() if any(r in line for r in REFUSALS)]


@pytest.fixture(scope="module")
def operator(installed: Installed, star_env: StarEnv, kubectl: Kubectl,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChartOperator]:
    deployment = kubectl.get_json("deployment", f"{installed.release}-star-operator",
                                  "-n", installed.namespace)
    op = ChartOperator(deployment, installed.kubeconfig,
                       tmp_path_factory.mktemp("operator") / f"{installed.mode}.log")
    op.start()
    try:
        wait_for(op.healthy, 60, "the operator's /healthz (the chart's liveness probe)")
        yield op
    finally:
        op.stop()
        # A failed test may leave StarOrders holding the finalizer; let their namespace go.
        for ns in (installed.watched, installed.other):
            for name in kubectl.run("get", "starorders", "-n", ns, "-o", "name").stdout.split():
                kubectl.run("patch", name, "-n", ns, "--type=merge",
                            "-p", '{"metadata":{"finalizers":null}}', check=False)
        print(f"operator log ({installed.mode}): {op.log_path}")


# ------------------------------------------------------------------------------ the flow

def serial_of(kubectl: Kubectl, ns: str, secret: str) -> int | None:
    tls = secret_tls(kubectl, ns, secret)
    if tls is None:
        return None
    return x509.load_pem_x509_certificates(tls[0])[0].serial_number


def test_full_star_order_flow_as_the_chart_service_account(
        installed: Installed, operator: ChartOperator, star_env: StarEnv, kubectl: Kubectl,
        star_ca: LocalCA) -> None:
    ns = installed.watched
    # The limited mode is not given this namespace: a StarOrder there must be left alone.
    ignored = f"ignored-{uuid.uuid4().hex[:4]}"
    kubectl.apply(star_env.star_order(ignored, installed.other,
                                      [f"{ignored}.{star_env.dns.zone}"]))

    # The DNO's template: valid, and its ACME account key Secret created by the operator.
    wait_condition(kubectl, "csrtemplate", star_env.template, None, status="True", timeout=60)
    assert get(kubectl, "secret", f"acct-{star_env.template}", OPERATOR_NS) is not None

    name = f"www-{uuid.uuid4().hex[:6]}"
    dns_name = f"{name}.{star_env.dns.zone}"
    kubectl.apply(star_env.star_order(name, ns, [dns_name], lifetime="4s", duration="1h"))
    order = wait_condition(kubectl, "starorder", name, ns, status="True", timeout=120)
    assert order["metadata"]["finalizers"] == ["star.operator.dev/finalizer"]

    # The Secret: a certificate for the name, and the key that matches it.
    secret = f"{name}-tls"
    tls = wait_for(lambda: secret_tls(kubectl, ns, secret), 60, f"Secret {ns}/{secret}")
    cert = x509.load_pem_x509_certificates(tls[0])[0]
    key = serialization.load_pem_private_key(tls[1], password=None)
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()  # type: ignore[union-attr]
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == [dns_name]
    assert tls[2], "ca.crt missing"

    # The StarCertificate the operator created for it, owned by the StarOrder.
    star_cert = wait_for(lambda: get(kubectl, "starcertificate", name, ns), 30,
                         "the StarCertificate")
    assert [o["kind"] for o in star_cert["metadata"]["ownerReferences"]] == ["StarOrder"]

    # Rotation: the CA re-issues every 4 s; the operator writes each new certificate.
    first = cert.serial_number
    wait_for(lambda: (serial_of(kubectl, ns, secret) or first) != first, 60,
             "a renewed certificate in the Secret")

    # Deleting the StarOrder cancels the STAR order at the CA. The Secret stays (Retain, the
    # default) in one mode; in the other, secretPolicy Delete exercises the `delete` verb.
    policy = "Delete" if installed.limited else "Retain"
    kubectl.run("patch", "starorder", name, "-n", ns, "--type=merge",
                "-p", f'{{"spec": {{"secretPolicy": "{policy}"}}}}')
    kubectl.run("delete", "starorder", name, "-n", ns, "--wait=false")
    wait_for(lambda: get(kubectl, "starorder", name, ns) is None, 60, "the StarOrder to go")
    statuses = [status for _, status in ca_orders(star_ca, dns_name)]
    assert statuses and set(statuses) == {"canceled"}, statuses
    assert (get(kubectl, "secret", secret, ns) is None) == (policy == "Delete")

    if installed.limited:
        untouched = get(kubectl, "starorder", ignored, installed.other)
        assert untouched is not None
        assert not untouched["metadata"].get("finalizers"), untouched["metadata"]
        assert not untouched.get("status"), untouched["status"]
    kubectl.run("delete", "starorder", ignored, "-n", installed.other, "--wait=false")
    if not installed.limited:  # served there too: the operator cancels it before it goes
        wait_for(lambda: get(kubectl, "starorder", ignored, installed.other) is None, 60,
                 "the StarOrder outside the watched namespace to go")

    # A broken CsrTemplate: its Warning Event goes to the operator's own namespace (kopf's
    # default namespace for cluster-scoped objects), which the chart lets it write to.
    broken = star_env.template_manifest(f"broken-{uuid.uuid4().hex[:4]}", ["*"])
    broken["spec"]["dns01"]["rfc2136"]["tsigSecretSecretRef"]["name"] = "no-such-secret"
    kubectl.apply(broken)
    bname = broken["metadata"]["name"]
    wait_condition(kubectl, "csrtemplate", bname, None, status="False", timeout=60)
    wait_for(lambda: [e for e in events(kubectl, installed.namespace, bname)
                      if e["type"] == "Warning"], 30,
             f"a Warning Event about CsrTemplate {bname} in {installed.namespace}")
    kubectl.run("delete", "csrtemplate", bname, "--wait=false")

    # Nothing was refused along the way (kopf degrades quietly on 403 for CRD and namespace
    # scanning; this catches that too).
    assert operator.refusals() == [], "\n".join(operator.refusals())
    with urllib.request.urlopen(f"http://127.0.0.1:{operator.metrics_port}/metrics",
                                timeout=5) as resp:
        assert resp.status == 200


# ------------------------------------------------------------------------------ the limits

def can_i(installed: Installed, verb: str, resource: str, namespace: str | None = None,
          name: str | None = None) -> bool:
    """`kubectl auth can-i` authenticated with the ServiceAccount's token (no impersonation).
    `resource` may be `kind/subresource`; an object name goes in `name`."""
    resource, _, sub = resource.partition("/")  # `can-i x a/b` would mean the object named b
    target = f"{resource}/{name}" if name else resource
    args = ["auth", "can-i", verb, target] + (["-n", namespace] if namespace else [])
    args += [f"--subresource={sub}"] if sub else []
    out = installed.as_sa().run(*args, check=False).stdout.strip()
    assert out in ("yes", "no"), out
    return out == "yes"


def test_the_token_is_the_chart_service_account(installed: Installed) -> None:
    # The SelfSubjectRulesReview names no user; a denied request does.
    proc = installed.as_sa().run("get", "configmaps", "-n", installed.namespace, check=False)
    assert proc.returncode != 0
    assert (f'User "system:serviceaccount:{installed.namespace}:{installed.service_account}" '
            f'cannot list resource "configmaps"') in proc.stderr


def test_what_the_chart_identity_may_do(installed: Installed) -> None:
    ns, g = installed.watched, "star.operator.dev"
    for verb, resource in [("list", f"starorders.{g}"), ("watch", f"starorders.{g}"),
                           ("patch", f"starorders.{g}"), ("patch", f"starorders.{g}/status"),
                           ("create", f"starcertificates.{g}"), ("get", f"starcertificates.{g}"),
                           ("get", "secrets"), ("create", "secrets"), ("update", "secrets"),
                           ("delete", "secrets"), ("create", "events")]:
        assert can_i(installed, verb, resource, ns), f"{verb} {resource} in {ns}"
    for verb, resource in [("list", f"csrtemplates.{g}"), ("get", f"csrtemplates.{g}"),
                           ("patch", f"csrtemplates.{g}/status"),
                           ("watch", "customresourcedefinitions.apiextensions.k8s.io")]:
        assert can_i(installed, verb, resource), f"{verb} {resource}"
    assert can_i(installed, "create", "events", installed.namespace)
    assert can_i(installed, "create", "secrets", OPERATOR_NS)
    assert can_i(installed, "get", "secrets", installed.namespace, name=installed.root_secret)
    assert can_i(installed, "list", "namespaces") == installed.limited


def test_what_the_chart_identity_may_not_do(installed: Installed, kubectl: Kubectl) -> None:
    ns, g = installed.watched, "star.operator.dev"
    denied = [("list", "secrets", ns), ("watch", "secrets", ns), ("list", "secrets", None),
              ("get", f"starorders.{g}", ns), ("create", f"starorders.{g}", ns),
              ("delete", f"starorders.{g}", ns), ("update", f"starorders.{g}", ns),
              ("delete", f"starcertificates.{g}", ns), ("create", f"csrtemplates.{g}", None),
              ("delete", f"csrtemplates.{g}", None),
              ("update", "customresourcedefinitions.apiextensions.k8s.io", None),
              ("create", "pods", ns), ("get", "configmaps", ns),
              ("create", "serviceaccounts/token", ns),
              ("create", "clusterrolebindings.rbac.authorization.k8s.io", None),
              ("create", "rolebindings.rbac.authorization.k8s.io", ns), ("patch", "nodes", None)]
    for verb, resource, where in denied:
        assert not can_i(installed, verb, resource, where), f"may {verb} {resource} in {where}"

    # A Secret in a namespace the limited mode was not given, read with the token itself.
    kubectl.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {
        "name": "not-yours", "namespace": installed.other}, "stringData": {"k": "v"}})
    proc = installed.as_sa().run("get", "secret", "not-yours", "-n", installed.other, check=False)
    if installed.limited:
        assert proc.returncode != 0 and "Forbidden" in proc.stderr, proc.stderr
        for verb in ("get", "create", "update", "delete"):
            assert not can_i(installed, verb, "secrets", installed.other)
        assert not can_i(installed, "get", "secrets", "kube-system")
        # In its own namespace: the CA's published root only.
        assert not can_i(installed, "get", "secrets", installed.namespace, name="anything-else")
        assert not can_i(installed, "patch", f"starorders.{g}", installed.other)
        assert not can_i(installed, "create", "events", installed.other)
    else:
        # Documented: cluster-wide mode reads Secrets by name everywhere (it must write the TLS
        # Secret of a StarOrder in any namespace); use watchNamespaces to narrow that.
        assert proc.returncode == 0, proc.stderr


def test_the_ca_publisher_fills_the_root_secret_and_may_touch_nothing_else(
        installed: Installed, star_env: StarEnv, star_ca: LocalCA, kubectl: Kubectl) -> None:
    data = kubectl.get_json("secret", installed.root_secret, "-n", installed.namespace)["data"]
    assert base64.b64decode(data["ca.crt"]) == star_ca.root_pem_path.read_bytes()
    again = publish_root(installed, star_ca.root_pem_path)
    assert again.returncode == 0 and "unchanged" in again.stdout, again.stdout + again.stderr

    ca = Kubectl(installed.ca_kubeconfig)
    def ca_can(*args: str) -> bool:
        return ca.run("auth", "can-i", *args, check=False).stdout.strip() == "yes"
    ns = installed.namespace
    assert ca_can("get", f"secrets/{installed.root_secret}", "-n", ns)
    assert ca_can("patch", f"secrets/{installed.root_secret}", "-n", ns)
    for args in (("get", "secrets/other", "-n", ns), ("list", "secrets", "-n", ns),
                 ("create", "secrets", "-n", ns), ("delete", f"secrets/{installed.root_secret}",
                                                   "-n", ns),
                 ("get", f"secrets/{installed.root_secret}", "-n", installed.watched),
                 ("list", "starorders.star.operator.dev", "-n", installed.watched),
                 ("create", "pods", "-n", ns)):
        assert not ca_can(*args), f"the CA identity may {' '.join(args)}"

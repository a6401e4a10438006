"""The chart installed on a LocalNode: the operator and the embedded CA as pods (or the operator
alone, `operator_values`: a CDN's, ordering through a StarIssuer).

The node (star_devenv.node.LocalNode) has no pod network and no kube-proxy, so everything runs
with `hostNetwork: true` on loopback ports: the chart's `hostNetwork` and `listenAddress:
127.0.0.1`; the operator and the CA's root publisher reach the API server at 127.0.0.1:<its port>
(`operator.extraEnv` / `ca.extraEnv` set KUBERNETES_SERVICE_HOST/PORT; the API server's
certificate has that IP and is the SA token's ca.crt). The CA keeps its state on an emptyDir (no
storage provisioner), asks the host's BIND 9 for dns-01 and CAA, and is reached by the operator at
https://127.0.0.1:<ca port>/directory with the chart's published root Secret as the CA bundle.
Used by the node e2e test and by the demo.
"""
from __future__ import annotations

import base64
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from star_devenv.helm import Helm
from star_devenv.kubectl import Kubectl
from star_devenv.node import POD_LOG_DIR
from star_devenv.processes import free_port, wait_until

#: Operator tunables for second-scale lifetimes, passed through the chart's `operator.env`.
FAST = {"STAR_OPERATOR_BACKOFF_MIN": "0.5", "STAR_OPERATOR_BACKOFF_MAX": "5",
        "STAR_OPERATOR_DELETE_BACKOFF_MAX": "2", "STAR_OPERATOR_POLL_MIN": "0.2",
        "STAR_OPERATOR_FETCH_JITTER_MAX": "0.2"}


@dataclass
class Release:
    """A helm release of the chart on the node; `cdn` is the namespace of the edge."""
    name: str
    namespace: str
    cdn: str
    ports: dict[str, int]

    @classmethod
    def new(cls, name: str, namespace: str, cdn: str, ca_port: int = 0,
            edge_port: int = 0) -> "Release":
        """Loopback ports for the operator's health and metrics, the CA and the edge: free
        ones, except a CA or edge port given (0 = free)."""
        return cls(name, namespace, cdn, {"health": free_port(), "metrics": free_port(),
                                          "ca": ca_port or free_port(),
                                          "edge": edge_port or free_port()})

    @property
    def root_secret(self) -> str:
        return f"{self.name}-star-operator-ca-root"

    @property
    def directory_url(self) -> str:
        return f"https://127.0.0.1:{self.ports['ca']}/directory"


def apiserver_port(kubeconfig: Path) -> int:
    config = yaml.safe_load(kubeconfig.read_text())
    current = next(c for c in config["contexts"] if c["name"] == config["current-context"])
    cluster = next(c for c in config["clusters"] if c["name"] == current["context"]["cluster"])
    url = urlsplit(cluster["cluster"]["server"])
    if url.hostname != "127.0.0.1":
        raise RuntimeError(f"the node path needs an API server on 127.0.0.1, not {url.netloc}")
    return url.port or 443


def api_server_env(kubeconfig: Path) -> list[dict[str, str]]:
    """KUBERNETES_SERVICE_HOST/PORT of the API server on loopback (no kube-proxy on the node)."""
    return [{"name": "KUBERNETES_SERVICE_HOST", "value": "127.0.0.1"},
            {"name": "KUBERNETES_SERVICE_PORT", "value": str(apiserver_port(kubeconfig))}]


def operator_values(rel: Release, image: str, kubeconfig: Path) -> dict[str, Any]:
    """Helm values for the operator alone on a node without pod network (the chart's CA off, as
    for a CDN that orders through a StarIssuer): host network on loopback, the project's
    imported image (`imagePullPolicy: Never`), second-scale tunables."""
    repository, _, tag = image.rpartition(":")
    return {
        "image": {"repository": repository, "tag": tag, "pullPolicy": "Never"},
        "hostNetwork": True, "listenAddress": "127.0.0.1",
        "operator": {"env": FAST, "extraEnv": api_server_env(kubeconfig),
                     "healthPort": rel.ports["health"]},
        "livenessProbe": {"initialDelaySeconds": 10, "periodSeconds": 5, "timeoutSeconds": 5,
                          "failureThreshold": 3},
        "metrics": {"port": rel.ports["metrics"]},
    }


def chart_values(rel: Release, image: str, kubeconfig: Path, dns_server: str,
                 min_lifetime: int = 1) -> dict[str, Any]:
    """:func:`operator_values` and the CA embedded with its state on an emptyDir."""
    return {
        **operator_values(rel, image, kubeconfig),
        "ca": {"enabled": True, "port": rel.ports["ca"], "extraEnv": api_server_env(kubeconfig),
               "dnsServer": dns_server, "minLifetime": min_lifetime,
               "persistence": {"enabled": False},
               "publisher": {"intervalSeconds": 1}},
    }


def install(helm: Helm, kubectl: Kubectl, rel: Release, values: dict[str, Any]) -> None:
    """Create the release's namespaces (if missing) and `helm install` the chart."""
    for ns in (rel.namespace, rel.cdn):
        kubectl.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    helm.install(rel.name, rel.namespace, values)


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


def wait_pods_ready(kubectl: Kubectl, rel: Release, timeout: float = 180,
                    ca: bool = True) -> None:
    """The operator pod and (unless `ca` is false) the CA pod (CA + root publisher) Ready; a
    restart fails at once."""
    components = [("operator", 1)] + ([("ca", 2)] if ca else [])
    for component, containers in components:
        deadline = time.monotonic() + timeout
        while not pods_ready(kubectl, rel.namespace, f"app.kubernetes.io/component={component}",
                             containers):
            if time.monotonic() >= deadline:
                raise TimeoutError(f"the {component} pod not Ready after {timeout} s\n"
                                   f"{pod_logs(rel.namespace)}")
            time.sleep(0.5)


def published_root(kubectl: Kubectl, rel: Release, timeout: float = 60) -> str:
    """The CA root (PEM) the CA pod's sidecar publishes as the release's root Secret."""
    found: list[str] = []

    def check() -> bool:
        if not kubectl.exists("secret", rel.root_secret, "-n", rel.namespace):
            return False
        data = kubectl.get_json("secret", rel.root_secret, "-n", rel.namespace).get("data") or {}
        if data.get("ca.crt"):
            found.append(base64.b64decode(data["ca.crt"]).decode())
        return bool(found)
    wait_until(check, timeout, "the CA root published by the CA pod's sidecar")
    return found[0]


def uninstall(kubectl: Kubectl, helm: Helm, rel: Release, template: str | None = None,
              delete_namespaces: bool = True) -> None:
    """Remove the edge, release any StarOrder finalizer, uninstall the chart, wait for the pods
    of both namespaces to go and delete the namespaces."""
    kubectl.run("delete", "deployment", "cdn-edge", "-n", rel.cdn, "--ignore-not-found",
                "--wait=false", check=False)
    # A failed run may leave a StarOrder holding the finalizer while the operator goes away.
    for name in kubectl.run("get", "starorders", "-n", rel.cdn, "-o", "name",
                            check=False).stdout.split():
        kubectl.run("patch", name, "-n", rel.cdn, "--type=merge",
                    "-p", '{"metadata":{"finalizers":null}}', check=False)
    if template:
        kubectl.run("delete", "csrtemplate", template, "--ignore-not-found",
                    "--wait=false", check=False)
    helm.uninstall(rel.name, rel.namespace)
    for ns in (rel.namespace, rel.cdn):
        wait_until(lambda ns=ns: not kubectl.get_json("pods", "-n", ns)["items"], 90,
                   f"the pods of namespace {ns} to go")
        if delete_namespaces:
            kubectl.run("delete", "namespace", ns, "--wait=false", check=False)

"""`helm install` / `helm uninstall` of the chart into the real control plane.

There is no node in this harness: the chart's pods are created and stay Pending, so the tests
assert on objects (and on what the controller-manager does with them), never on running pods.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from star_devenv.kubectl import Kubectl
from tests.e2e.helm_helpers import CHART, CRDS, Helm
from tests.waiting import wait_for

pytestmark = pytest.mark.cluster

NAMESPACED_KINDS = ("deployments,replicasets,pods,services,serviceaccounts,secrets,configmaps,"
                    "persistentvolumeclaims,roles,rolebindings")
CRD_NAMES = sorted(f"{p.name.split('_', 1)[1].removesuffix('.yaml')}.{p.name.split('_')[0]}"
                   for p in CRDS.glob("*.yaml"))


@pytest.fixture
def helm(control_plane: Any) -> Iterator[Helm]:
    h = Helm(control_plane.kubeconfig)
    yield h
    h.close()


def new_namespace(kubectl: Kubectl, prefix: str) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    kubectl.run("create", "namespace", name)
    return name


def release_objects(kubectl: Kubectl, release: str) -> list[str]:
    """Everything labelled with the release, in every namespace and at cluster scope."""
    selector = f"app.kubernetes.io/instance={release}"
    names = kubectl.run("get", NAMESPACED_KINDS, "-A", "-l", selector, "-o", "name").stdout.split()
    names += kubectl.run("get", "clusterroles,clusterrolebindings", "-l", selector,
                         "-o", "name").stdout.split()
    return names


def token_secrets(kubectl: Kubectl, namespace: str, service_account: str) -> list[str]:
    items = kubectl.get_json("secrets", "-n", namespace,
                             "--field-selector=type=kubernetes.io/service-account-token")["items"]
    return [s["metadata"]["name"] for s in items
            if s["metadata"].get("annotations", {}).get("kubernetes.io/service-account.name")
            == service_account]


def test_install_then_uninstall_leaves_nothing_of_the_release(
        helm: Helm, kubectl: Kubectl) -> None:
    ns = new_namespace(kubectl, "chart")
    watched = new_namespace(kubectl, "cdn")
    release = f"inst-{uuid.uuid4().hex[:6]}"
    full = f"{release}-star-operator"
    helm.install(release, ns, {"ca": {"enabled": True}, "watchNamespaces": [watched]})

    # CRDs from the chart's crds/ folder, established by the apiserver.
    for crd in CRD_NAMES:
        kubectl.run("wait", "--for=condition=Established", f"crd/{crd}", "--timeout=60s")

    # The objects of the release.
    dep = kubectl.get_json("deployment", full, "-n", ns)
    assert dep["spec"]["strategy"]["type"] == "Recreate"
    for kind, name, where in [("serviceaccount", full, ns), ("service", f"{full}-metrics", ns),
                              ("clusterrole", full, None), ("clusterrolebinding", full, None),
                              ("role", full, ns), ("rolebinding", full, ns),
                              ("role", full, watched), ("rolebinding", full, watched),
                              ("deployment", f"{full}-ca", ns), ("service", f"{full}-ca", ns),
                              ("persistentvolumeclaim", f"{full}-ca", ns),
                              ("secret", f"{full}-ca-root", ns),
                              ("configmap", f"{full}-ca-publisher", ns),
                              ("serviceaccount", f"{full}-ca", ns),
                              ("role", f"{full}-ca", ns), ("rolebinding", f"{full}-ca", ns)]:
        args = [kind, name] + (["-n", where] if where else [])
        assert kubectl.exists(*args), f"{kind} {name} missing after helm install"
    assert release in helm.run("list", "-n", ns, "-q").stdout.split()

    # The controller-manager acts on them: a ReplicaSet and a (Pending: no node) pod for each
    # Deployment, and a token Secret for the operator's ServiceAccount.
    def pods() -> list[dict[str, Any]]:
        return kubectl.get_json("pods", "-n", ns, "-l",
                                f"app.kubernetes.io/instance={release}")["items"]
    found = wait_for(lambda: len(pods()) == 2 and pods(), 60, "the chart's two pods")
    assert {p["status"].get("phase") for p in found} == {"Pending"}
    wait_for(lambda: token_secrets(kubectl, ns, full), 60, "the operator's token Secret")

    helm.uninstall(release, ns)
    assert release not in helm.run("list", "-n", ns, "-q", "--uninstalled", "--deployed",
                                   "--failed", "--pending").stdout.split()
    # Garbage collection (ReplicaSets, pods) and token cleanup run in the controller-manager.
    wait_for(lambda: not release_objects(kubectl, release), 90,
             "every object of the release to be gone")
    wait_for(lambda: not token_secrets(kubectl, ns, full), 60, "the token Secret to be gone")
    assert not token_secrets(kubectl, ns, f"{full}-ca")
    helm_records = kubectl.run("get", "secrets", "-n", ns, "-l", f"owner=helm,name={release}",
                               "-o", "name").stdout.split()
    assert helm_records == []
    # Documented behaviour: CRDs in the chart's crds/ folder are never deleted by Helm.
    for crd in CRD_NAMES:
        assert kubectl.exists("crd", crd)


def test_install_cluster_wide_defaults(helm: Helm, kubectl: Kubectl) -> None:
    ns = new_namespace(kubectl, "chart")
    release = f"cw-{uuid.uuid4().hex[:6]}"
    full = f"{release}-star-operator"
    helm.install(release, ns)
    try:
        role = kubectl.get_json("clusterrole", full)
        resources = {r for rule in role["rules"] for r in rule["resources"]}
        assert {"starorders", "secrets", "csrtemplates", "events"} <= resources
        assert not kubectl.run("get", "roles", "-A", "-l", f"app.kubernetes.io/instance={release}",
                               "-o", "name").stdout.split()
        assert not kubectl.exists("deployment", f"{full}-ca", "-n", ns)
        # The identity the Deployment runs as, as the apiserver sees it (impersonation):
        sa = f"system:serviceaccount:{ns}:{full}"
        def can(*args: str) -> bool:
            out = kubectl.run("auth", "can-i", *args, f"--as={sa}", check=False).stdout.strip()
            return out == "yes"
        assert can("patch", "starorders.star.operator.dev", "-n", "anywhere")
        assert can("update", "secrets", "-n", "anywhere")
        assert not can("list", "secrets", "-n", "anywhere")
        assert not can("create", "pods", "-n", ns)
    finally:
        helm.uninstall(release, ns)
    wait_for(lambda: not release_objects(kubectl, release), 90, "the release to be gone")


def test_upgrade_keeps_the_published_ca_root(helm: Helm, kubectl: Kubectl) -> None:
    """The root Secret is a release object whose `data` Helm never writes: the CA's sidecar
    fills it, and an upgrade must not empty it again."""
    ns = new_namespace(kubectl, "chart")
    release = f"up-{uuid.uuid4().hex[:6]}"
    secret = f"{release}-star-operator-ca-root"
    helm.install(release, ns, {"ca": {"enabled": True}})
    try:
        kubectl.run("patch", "secret", secret, "-n", ns, "--type=merge",
                    "-p", '{"data": {"ca.crt": "cm9vdA=="}}')
        helm.run("upgrade", release, str(CHART), "-n", ns, "--set", "ca.enabled=true",
                 "--set", "ca.minLifetime=60")
        data = kubectl.get_json("secret", secret, "-n", ns).get("data") or {}
        assert data.get("ca.crt") == "cm9vdA=="
        dep = kubectl.get_json("deployment", f"{release}-star-operator-ca", "-n", ns)
        env = {e["name"]: e.get("value")
               for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env["STAR_CA_MIN_LIFETIME"] == "60"
    finally:
        helm.uninstall(release, ns)
    wait_for(lambda: not release_objects(kubectl, release), 90, "the release to be gone")

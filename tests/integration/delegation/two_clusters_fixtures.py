"""The CDN's cluster: a second control plane (its own etcd, kube-apiserver, controller-manager,
ports and directory, from the same harness) and a second operator bound to it.

Session-scoped: starting a control plane costs seconds, and every two-cluster test shares one.
The DNO's cluster is the session's ordinary ``control_plane``; nothing is shared between the two
but the network, as between two companies.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from star_devenv.controlplane import LocalControlPlane
from star_devenv.kubectl import Kubectl
from tests.integration.operator.op_env import OperatorProcess, apply_crds

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def cdn_control_plane() -> Iterator[LocalControlPlane]:
    with LocalControlPlane() as plane:
        yield plane


@pytest.fixture(scope="session")
def cdn_kubectl(cdn_control_plane: LocalControlPlane) -> Kubectl:
    kubectl = Kubectl(cdn_control_plane.kubeconfig)
    apply_crds(kubectl, ROOT / "crds")
    return kubectl


@pytest.fixture(scope="session")
def cdn_operator(cdn_control_plane: LocalControlPlane, cdn_kubectl: Kubectl,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    """The CDN's own operator: no CsrTemplate, no TSIG key, no CA account in its cluster."""
    proc = OperatorProcess(Path(cdn_control_plane.kubeconfig),
                           tmp_path_factory.mktemp("cdn-operator"))
    proc.start()
    yield proc
    if proc.namespaces:  # finalizers (cancel Order1) run while the operator still does
        cdn_kubectl.run("wait", "--for=delete", *(f"namespace/{n}" for n in proc.namespaces),
                        "--timeout=120s", check=False, timeout=150)
    proc.stop()

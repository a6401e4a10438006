"""Session fixtures for a real Kubernetes cluster.

By default a LocalControlPlane (etcd + kube-apiserver + kube-controller-manager) is started once
per test session. ``cdn_control_plane`` is a second one (its own etcd, ports and directory), the
CDN's cluster of the two-organization tests, with ``cdn_operator`` bound to it; started only
when a test asks for it. With STAR_USE_EXISTING_CLUSTER=1 the cluster named by KUBECONFIG is used
instead (for example kind), which is how a user with Docker runs the same tests.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from star_devenv.controlplane import ExistingCluster, LocalControlPlane
from star_devenv.kubectl import Kubectl


@pytest.fixture(scope="session")
def control_plane() -> Iterator[LocalControlPlane | ExistingCluster]:
    if os.environ.get("STAR_USE_EXISTING_CLUSTER") == "1":
        kubeconfig = os.environ.get("KUBECONFIG")
        if not kubeconfig:
            pytest.fail("STAR_USE_EXISTING_CLUSTER=1 needs KUBECONFIG to name the cluster")
        yield ExistingCluster(Path(kubeconfig))
        return
    with LocalControlPlane() as plane:
        yield plane


@pytest.fixture(scope="session")
def kubectl(control_plane: LocalControlPlane | ExistingCluster) -> Kubectl:
    return Kubectl(control_plane.kubeconfig)


@pytest.fixture(scope="session")
def cdn_control_plane() -> Iterator[LocalControlPlane]:
    with LocalControlPlane() as plane:
        yield plane


@pytest.fixture(scope="session")
def cdn_kubectl(cdn_control_plane: LocalControlPlane) -> Kubectl:
    """kubectl for the CDN's cluster, with the project's CRDs installed."""
    from tests.integration.operator.op_env import apply_crds
    kubectl = Kubectl(cdn_control_plane.kubeconfig)
    apply_crds(kubectl, Path(__file__).resolve().parents[1] / "crds")
    return kubectl


@pytest.fixture(scope="session")
def cdn_operator(cdn_kubectl: Kubectl, cdn_control_plane: LocalControlPlane,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The CDN's own operator: no CsrTemplate, no TSIG key, no CA account in its cluster."""
    from tests.integration.operator.op_env import OperatorProcess
    proc = OperatorProcess(Path(cdn_control_plane.kubeconfig),
                           tmp_path_factory.mktemp("cdn-operator"))
    proc.start()
    yield proc
    proc.stop()

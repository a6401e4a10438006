"""Session fixtures for a real Kubernetes cluster.

By default a LocalControlPlane (etcd + kube-apiserver + kube-controller-manager) is started once
per test session. With STAR_USE_EXISTING_CLUSTER=1 the cluster named by KUBECONFIG is used
instead (for example kind), which is how a user with Docker runs the same tests.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

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

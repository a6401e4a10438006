"""Fixtures for the operator's integration tests: the real control plane, BIND 9, star-ca, and
the operator itself as a ``star-operator`` subprocess (what a Deployment runs)."""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from op_env import OperatorProcess, StarEnv, apply_crds, installed

from star_devenv.ca import LocalCA
from star_devenv.kubectl import Kubectl

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def crds(kubectl: Kubectl) -> None:
    apply_crds(kubectl, ROOT / "crds")


@pytest.fixture(scope="module")
def star_ca(dns_server: Any) -> Iterator[LocalCA]:
    with LocalCA(dns_server=dns_server.server, min_lifetime=1, max_duration=86400) as ca:
        yield ca


@pytest.fixture(scope="module")
def operator_process(control_plane: Any, crds: None, tmp_path_factory: pytest.TempPathFactory
                     ) -> Iterator[OperatorProcess]:
    log_dir = tmp_path_factory.mktemp("operator")
    proc = OperatorProcess(Path(control_plane.kubeconfig), log_dir)
    proc.start()
    yield proc
    proc.drain()  # the finalizers run (cancel at the CA) before the operator goes
    proc.stop()


@pytest.fixture(scope="module")
def star_env(kubectl: Kubectl, crds: None, dns_server: Any, star_ca: LocalCA
             ) -> Iterator[StarEnv]:
    """Secrets + CsrTemplates for zone star.test pointing at this module's CA and BIND."""
    with installed(StarEnv(kubectl, dns_server, star_ca, suffix=uuid.uuid4().hex[:6])) as env:
        yield env


@pytest.fixture
def namespace(kubectl: Kubectl, operator_process: OperatorProcess) -> Iterator[str]:
    """A fresh namespace (the main template allows every namespace); deleted afterwards while
    the operator still runs, so StarOrder finalizers cancel at the CA."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    kubectl.run("create", "namespace", name)
    yield name
    for ns in (name, f"{name}-cdn"):
        if kubectl.exists("namespace", ns):
            operator_process.delete_namespace(kubectl, ns)

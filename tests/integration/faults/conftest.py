"""Fixtures for the fault tests: the session's control plane, and a BIND 9, a star-ca and an
operator subprocess of their own, which the tests stop, kill and restart (on the same port,
database and zone), so no other test's components are ever faulted."""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from star_devenv.ca import LocalCA
from star_devenv.dns import LocalDNS
from star_devenv.kubectl import Kubectl
from star_devenv.processes import free_port
from tests.integration.operator.op_env import OperatorProcess, apply_crds

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="package")
def fault_crds(kubectl: Kubectl) -> None:
    apply_crds(kubectl, ROOT / "crds")


@pytest.fixture(scope="package")
def fault_dns(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalDNS]:
    """BIND 9 on a fixed port and directory, so that ``stop()`` + ``start()`` bring it back
    where the operator and the CA expect it (with an empty zone, as after a crash)."""
    with LocalDNS("star.test", port=free_port(),
                  workdir=tmp_path_factory.mktemp("fault-dns")) as server:
        yield server


@pytest.fixture(scope="package")
def fault_ca(fault_dns: LocalDNS) -> Iterator[LocalCA]:
    with LocalCA(dns_server=fault_dns.server, min_lifetime=1, max_duration=86400) as ca:
        yield ca


@pytest.fixture(scope="package")
def fault_operator(control_plane: Any, fault_crds: None,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    """The operator as a subprocess; tests ``kill()`` and ``start()`` it. The namespaces the
    tests deleted are awaited before it stops (their StarCertificates' daemons end then)."""
    proc = OperatorProcess(Path(control_plane.kubeconfig), tmp_path_factory.mktemp("operator"))
    proc.start()
    yield proc
    proc.drain()  # the finalizers run (cancel at the CA) before the operator goes
    proc.stop()


@pytest.fixture
def fault_namespace(kubectl: Kubectl, fault_operator: OperatorProcess) -> Iterator[str]:
    """A fresh namespace. Afterwards its StarOrders are deleted while the test's CA path is
    still there (their finalizers cancel at the CA; the operator restarted first if the test
    left it killed), then the namespace, awaited when the operator stops."""
    name = f"f-{uuid.uuid4().hex[:8]}"
    kubectl.run("create", "namespace", name)
    yield name
    if fault_operator.proc is None:
        fault_operator.start()
    kubectl.run("delete", "starorders", "--all", "-n", name, "--timeout=120s", check=False,
                timeout=150)
    fault_operator.delete_namespace(kubectl, name)

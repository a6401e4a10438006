"""The CDN's cluster: a second control plane (its own etcd, kube-apiserver, controller-manager,
ports and directory, from the same harness) and a second operator bound to it.

Session-scoped: starting a control plane costs seconds, and every two-cluster test shares one.
The DNO's cluster is the session's ordinary ``control_plane``; nothing is shared between the two
but the network, as between two companies.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from star_devenv.controlplane import LocalControlPlane
from star_devenv.kubectl import Kubectl
from tests.integration.operator.op_env import OperatorProcess, apply_crds, b64, get
from tests.waiting import wait_for

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


@pytest.fixture(scope="module")
def cdn_ns(cdn_kubectl: Kubectl, cdn_operator: OperatorProcess) -> Iterator[str]:
    """A namespace of the CDN's cluster for one test module (objects named apart per test),
    deleted (every Order1 canceled) afterwards: one namespace deletion per module."""
    name = f"cdn-{uuid.uuid4().hex[:8]}"
    cdn_kubectl.run("create", "namespace", name)
    cdn_operator.namespaces.append(name)
    yield name
    # Waited for here, while the test's front end still runs: the StarOrders' finalizers
    # cancel Order1 there (or learn that the DNO already ended it).
    cdn_kubectl.run("delete", "namespace", name, "--timeout=60s", check=False, timeout=90)


def star_issuer(kubectl: Kubectl, ns: str, name: str, directory: str, key_id: str, mac: str,
                roots: str | None = None) -> None:
    """The EAB Secret (keyID, hmacKey), the roots Secret and the StarIssuer, as a CDN applies
    what the DNO handed over."""
    spec: dict[str, Any] = {"directoryURL": directory,
                            "externalAccountBindingSecretRef": {"name": f"{name}-eab"}}
    kubectl.apply({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                   "metadata": {"name": f"{name}-eab", "namespace": ns},
                   "data": {"keyID": b64(key_id), "hmacKey": b64(mac)}})
    if roots:
        kubectl.apply({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                       "metadata": {"name": f"{name}-roots", "namespace": ns},
                       "data": {"ca.crt": b64(roots)}})
        spec["caBundleSecretRef"] = {"name": f"{name}-roots"}
    kubectl.apply({"apiVersion": "star.operator.dev/v1alpha1", "kind": "StarIssuer",
                   "metadata": {"name": name, "namespace": ns}, "spec": spec})


def cdn_order(kubectl: Kubectl, ns: str, name: str, issuer: str, names: list[str], *,
              lifetime: str = "5s", duration: str = "1h") -> None:
    """A StarOrder through the StarIssuer: only names, lifetime, duration, Secret."""
    kubectl.apply({"apiVersion": "star.operator.dev/v1alpha1", "kind": "StarOrder",
                   "metadata": {"name": name, "namespace": ns},
                   "spec": {"issuerRef": {"name": issuer}, "dnsNames": names,
                            "secretName": f"{name}-tls", "lifetime": lifetime,
                            "duration": duration}})


def wait_rotations(kubectl: Kubectl, ns: str, name: str, count: int = 3,
                   timeout: float = 90) -> int:
    """Wait until the StarCertificate ``name`` has written ``count`` renewals to its Secret."""
    def rotations() -> int | None:
        cert = get(kubectl, "starcertificate", name, ns) or {}
        done = int((cert.get("status") or {}).get("rotations") or 0)
        return done if done >= count else None
    return wait_for(rotations, timeout, f"{count} renewals in {ns}/{name}'s Secret")

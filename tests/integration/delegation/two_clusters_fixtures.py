"""The CDN's side of the two-cluster tests: a namespace in the CDN's cluster and what a CDN
applies there. The cluster itself (``cdn_control_plane``, ``cdn_kubectl``, ``cdn_operator``:
a second control plane and its own operator) is a session fixture of tests/cluster_fixtures.py,
shared by every module. The DNO's cluster is the session's ordinary ``control_plane``; nothing
is shared between the two but the network, as between two companies.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from star_devenv.kubectl import Kubectl
from tests.integration.operator.op_env import b64, get
from tests.waiting import wait_for


@pytest.fixture(scope="module")
def cdn_ns(cdn_kubectl: Kubectl, cdn_operator: Any) -> Iterator[str]:
    """A namespace of the CDN's cluster for one test module (objects named apart per test),
    deleted (every Order1 canceled) afterwards: one namespace deletion per module."""
    name = f"cdn-{uuid.uuid4().hex[:8]}"
    cdn_kubectl.run("create", "namespace", name)
    yield name
    # The StarOrders first, waited for while the module's front end still runs: their
    # finalizers cancel Order1 there (or learn that the DNO already ended it). The namespace
    # itself then goes in the background.
    cdn_kubectl.run("delete", "starorders", "--all", "-n", name, "--timeout=60s", check=False,
                    timeout=90)
    cdn_kubectl.run("delete", "namespace", name, "--wait=false", check=False)


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

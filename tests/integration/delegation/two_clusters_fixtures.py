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
from star_devenv.two_clusters import cdn_order, star_issuer  # noqa: F401
from tests.integration.operator.op_env import get
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


def wait_rotations(kubectl: Kubectl, ns: str, name: str, count: int = 3,
                   timeout: float = 90) -> int:
    """Wait until the StarCertificate ``name`` has written ``count`` renewals to its Secret."""
    def rotations() -> int | None:
        cert = get(kubectl, "starcertificate", name, ns) or {}
        done = int((cert.get("status") or {}).get("rotations") or 0)
        return done if done >= count else None
    return wait_for(rotations, timeout, f"{count} renewals in {ns}/{name}'s Secret")

"""kube-apiserver restarts under a running operator (an upgrade, a crash): watches break and
calls are refused for a while. Afterwards the operator carries on: the Secret keeps rotating
with the same key, the StarOrder stays on its one CA order, nothing is lost.

Uses a control plane of its own (state in its etcd survives the restart), so the session's
plane, shared by every other test, never goes away."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from op_env import (OperatorProcess, StarEnv, apply_crds, ca_orders, get, secret_tls,
                    wait_condition)

from star_devenv.ca import LocalCA
from star_devenv.controlplane import LocalControlPlane
from star_devenv.kubectl import Kubectl
from star_operator.verify import verify_certificate
from tests.waiting import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.dns]

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def own_plane() -> Iterator[LocalControlPlane]:
    with LocalControlPlane() as plane:
        yield plane


@pytest.fixture(scope="module")
def own_kubectl(own_plane: LocalControlPlane) -> Kubectl:
    kubectl = Kubectl(own_plane.kubeconfig)
    apply_crds(kubectl, ROOT / "crds")
    return kubectl


@pytest.fixture(scope="module")
def own_operator(own_plane: LocalControlPlane, own_kubectl: Kubectl,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    """Started once the CRDs exist, as in a real install."""
    proc = OperatorProcess(own_plane.kubeconfig, tmp_path_factory.mktemp("operator"))
    proc.start()
    yield proc
    proc.stop()


def test_operator_continues_after_apiserver_restart(
        own_plane: LocalControlPlane, own_kubectl: Kubectl, own_operator: OperatorProcess,
        dns_server, star_ca: LocalCA) -> None:
    kubectl = own_kubectl
    env = StarEnv(kubectl, dns_server, star_ca, suffix="apirst")
    env.install()
    ns, host = "apirestart", "steady-apirestart.star.test"
    kubectl.run("create", "namespace", ns)
    kubectl.apply(env.star_order("steady", ns, [host], lifetime="3s"))
    before = wait_condition(kubectl, "starorder", "steady", ns, status="True", reason="Issued",
                            timeout=120)
    key = wait_for(lambda: secret_tls(kubectl, ns, "steady-tls"), 60, "certificate")[1]

    own_plane.restart_apiserver()

    serials: list[str] = []

    def rotated_twice() -> bool:
        tls = secret_tls(kubectl, ns, "steady-tls")
        assert tls is not None and tls[1] == key  # the key never changes or goes missing
        serial = verify_certificate(tls[0], tls[1], env.root_pem, expected_names=[host]).serial
        if not serials or serials[-1] != serial:
            serials.append(serial)
        return len(serials) >= 3  # the one seen first, then two written after the restart

    wait_for(rotated_twice, 60, "rotations after the API server restart", interval=0.3)
    after = get(kubectl, "starorder", "steady", ns)
    assert after["status"]["orderURL"] == before["status"]["orderURL"]
    assert after["status"]["phase"] == "Valid"
    assert len(ca_orders(star_ca, host)) == 1
    kubectl.run("delete", "starorder", "steady", "-n", ns, "--timeout=60s")
    assert [s for _, s in ca_orders(star_ca, host)] == ["canceled"]

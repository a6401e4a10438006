"""Deletion while the CA is down: the finalizer keeps retrying (visible in status and Events)
until the CA is back and confirms the cancellation; an admin annotation can force removal."""
from __future__ import annotations

import pytest
from op_env import StarEnv, ca_orders, events, get, wait_condition

from star_devenv.ca import LocalCA
from star_devenv.kubectl import Kubectl
from tests.waiting import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.dns]


def issued(kubectl: Kubectl, env: StarEnv, ns: str, name: str) -> str:
    host = f"{name}-{ns}.star.test"
    kubectl.apply(env.star_order(name, ns, [host], lifetime="5s"))
    wait_condition(kubectl, "starorder", name, ns, status="True", reason="Issued", timeout=120)
    return host


def delete_while_down(kubectl: Kubectl, ns: str, name: str) -> dict:
    """Delete without waiting; the finalizer's failed cancellation shows in the condition."""
    kubectl.run("delete", "starorder", name, "-n", ns, "--wait=false")
    return wait_condition(kubectl, "starorder", name, ns, status="False",
                          reason="CancelFailed", timeout=60)


def test_finalizer_retries_until_the_ca_is_back(kubectl: Kubectl, star_env: StarEnv,
                                               star_ca: LocalCA, operator_process,
                                               namespace: str) -> None:
    host = issued(kubectl, star_env, namespace, "outage")
    star_ca.kill()
    try:
        obj = delete_while_down(kubectl, namespace, "outage")
        assert obj["metadata"].get("deletionTimestamp")
        assert "star.operator.dev/finalizer" in obj["metadata"]["finalizers"]
        assert obj["status"]["phase"] == "Canceling"
        wait_for(lambda: (o := get(kubectl, "starorder", "outage", namespace))
                 and o["status"].get("cancelAttempts", 0) >= 2, 30, "a retried cancellation")
        assert any(e["type"] == "Warning" and e["reason"] == "CancelFailed"
                   for e in events(kubectl, namespace, "outage"))
    finally:
        star_ca.start()
    wait_for(lambda: get(kubectl, "starorder", "outage", namespace) is None, 60,
             "the StarOrder to go once the CA is back")
    assert [s for _, s in ca_orders(star_ca, host)] == ["canceled"]


def test_force_delete_annotation_releases_without_the_ca(kubectl: Kubectl, star_env: StarEnv,
                                                         star_ca: LocalCA, operator_process,
                                                         namespace: str) -> None:
    host = issued(kubectl, star_env, namespace, "forced")
    star_ca.kill()
    try:
        delete_while_down(kubectl, namespace, "forced")
        kubectl.run("annotate", "starorder", "forced", "-n", namespace,
                    "star.operator.dev/force-delete=true")
        wait_for(lambda: get(kubectl, "starorder", "forced", namespace) is None, 60,
                 "forced removal")
        assert any(e["reason"] == "ForceDeleted" for e in events(kubectl, namespace, "forced"))
    finally:
        star_ca.start()
    assert [s for _, s in ca_orders(star_ca, host)] == ["valid"]  # documented consequence

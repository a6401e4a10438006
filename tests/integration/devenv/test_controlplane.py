"""Proof that the harness is a real control plane, not a stand-in.

Each test exercises behaviour only a real apiserver + controller-manager has: schema storage of
custom resources, RBAC denial, token Secrets minted by the serviceaccount-token controller, and
owner-reference garbage collection.
"""
from __future__ import annotations

import base64
import json
import uuid

import pytest

from star_devenv.kubectl import Kubectl
from tests.waiting import wait_for

pytestmark = pytest.mark.cluster


def namespace(kubectl: Kubectl) -> str:
    name = f"smoke-{uuid.uuid4().hex[:8]}"
    kubectl.run("create", "namespace", name)
    return name


CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.smoke.star.test"},
    "spec": {
        "group": "smoke.star.test", "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
        "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
            "type": "object", "properties": {"spec": {
                "type": "object", "required": ["size"],
                "properties": {"size": {"type": "integer", "minimum": 1}}}}}}}],
    },
}


def test_custom_resource_round_trip_and_schema_validation(kubectl: Kubectl) -> None:
    kubectl.apply(CRD)
    kubectl.run("wait", "--for=condition=Established", "crd/widgets.smoke.star.test",
                "--timeout=30s")
    ns = namespace(kubectl)
    widget = {"apiVersion": "smoke.star.test/v1", "kind": "Widget",
              "metadata": {"name": "w1", "namespace": ns}, "spec": {"size": 3}}
    kubectl.apply(widget)
    assert kubectl.get_json("widget", "w1", "-n", ns)["spec"] == {"size": 3}
    bad = {**widget, "metadata": {"name": "w2", "namespace": ns}, "spec": {"size": 0}}
    rejected = kubectl.run("apply", "-f", "-", input=json.dumps(bad), check=False)
    assert rejected.returncode != 0 and "spec.size" in rejected.stderr


def service_account_token(kubectl: Kubectl, ns: str, sa: str) -> str:
    def token() -> str | None:
        account = kubectl.get_json("serviceaccount", sa, "-n", ns)
        for ref in account.get("secrets", []):
            secret = kubectl.get_json("secret", ref["name"], "-n", ns)
            if "token" in secret.get("data", {}):
                return base64.b64decode(secret["data"]["token"]).decode()
        return None
    return wait_for(token, what=f"token Secret for {ns}/{sa}")


def test_service_account_token_is_minted_and_rbac_denies_it(kubectl: Kubectl) -> None:
    ns = namespace(kubectl)
    kubectl.run("create", "serviceaccount", "robot", "-n", ns)
    token = service_account_token(kubectl, ns, "robot")
    as_robot = Kubectl(kubectl.kubeconfig, token=token)
    who = as_robot.run("auth", "can-i", "list", "secrets", "-n", ns, check=False)
    assert who.stdout.strip() == "no"
    denied = as_robot.run("get", "secrets", "-n", ns, check=False)
    assert denied.returncode != 0 and "forbidden" in denied.stderr.lower()
    assert "system:serviceaccount:" + ns + ":robot" in denied.stderr
    kubectl.run("create", "role", "reader", "--verb=list", "--resource=secrets", "-n", ns)
    kubectl.run("create", "rolebinding", "robot-reads", "--role=reader",
                f"--serviceaccount={ns}:robot", "-n", ns)
    wait_for(lambda: as_robot.run("get", "secrets", "-n", ns, check=False).returncode == 0,
             what="RBAC grant to take effect")


def test_owned_child_is_garbage_collected(kubectl: Kubectl) -> None:
    ns = namespace(kubectl)
    kubectl.run("create", "configmap", "owner", "-n", ns)
    owner_uid = kubectl.get_json("configmap", "owner", "-n", ns)["metadata"]["uid"]
    kubectl.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": "child", "namespace": ns, "ownerReferences": [{
            "apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner_uid}]}})
    assert kubectl.exists("configmap", "child", "-n", ns)
    kubectl.run("delete", "configmap", "owner", "-n", ns)
    wait_for(lambda: not kubectl.exists("configmap", "child", "-n", ns),
             what="garbage collection of the child")


def test_teardown_stops_every_process_and_removes_state_even_on_error() -> None:
    from star_devenv.controlplane import LocalControlPlane
    from star_devenv.processes import is_alive

    plane = LocalControlPlane()
    with pytest.raises(RuntimeError, match="boom"), plane:
        assert plane.state is not None and plane.is_ready()
        pids = dict(plane.state.pids)
        raise RuntimeError("boom")
    assert set(pids) == {"etcd", "kube-apiserver", "kube-controller-manager"}
    assert not any(is_alive(pid) for pid in pids.values())
    assert not plane.directory.exists()

"""The operator cannot write the target Secret (here: a user made it immutable). The StarOrder
must then not claim Ready=True while the Secret holds no usable certificate: the failure shows
on the StarOrder itself (condition + Warning Event), not only on the StarCertificate."""
from __future__ import annotations

import pytest
from op_env import StarEnv, ca_orders, ready, secret_tls, wait_condition, warned

from star_devenv.kubectl import Kubectl
from tests.waiting import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.dns]


def test_immutable_secret_before_the_key_is_staged(kubectl: Kubectl, star_env: StarEnv,
                                                   operator_process, namespace: str) -> None:
    kubectl.apply({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                   "immutable": True,
                   "metadata": {"name": "frozen-tls", "namespace": namespace,
                                "labels": {"app.kubernetes.io/managed-by": "star-operator"}},
                   "data": {"tls.crt": "", "tls.key": ""}})
    host = f"frozen-{namespace}.star.test"
    kubectl.apply(star_env.star_order("frozen", namespace, [host]))
    order = wait_condition(kubectl, "starorder", "frozen", namespace, status="False",
                           reason="SecretWriteFailed")
    message = ready(order)["message"]
    assert f"{namespace}/frozen-tls" in message and "immutable" in message, message
    wait_for(lambda: warned(kubectl, namespace, "frozen", "SecretWriteFailed"), 30, "Event")
    assert ca_orders(star_env.ca, host) == []  # no order without a stored key
    kubectl.run("delete", "secret", "frozen-tls", "-n", namespace)  # the user's fix
    wait_condition(kubectl, "starorder", "frozen", namespace, status="True", reason="Issued",
                   timeout=90)
    assert secret_tls(kubectl, namespace, "frozen-tls") is not None
    assert len(ca_orders(star_env.ca, host)) == 1


def test_immutable_secret_after_issuance_fails_the_star_order(
        kubectl: Kubectl, star_env: StarEnv, operator_process, namespace: str) -> None:
    host = f"stuck-{namespace}.star.test"
    kubectl.apply(star_env.star_order("stuck", namespace, [host], lifetime="3s"))
    wait_condition(kubectl, "starorder", "stuck", namespace, status="True", reason="Issued",
                   timeout=90)
    kubectl.run("patch", "secret", "stuck-tls", "-n", namespace, "-p", '{"immutable":true}')
    # renewals cannot land; once the served certificate expires, nothing usable is left
    cert = wait_condition(kubectl, "starcertificate", "stuck", namespace, status="False",
                          reason="SecretWriteFailed", timeout=60)
    order = wait_condition(kubectl, "starorder", "stuck", namespace, status="False",
                           reason="SecretWriteFailed", timeout=30)
    assert "immutable" in ready(order)["message"]
    assert ready(cert)["message"] in ready(order)["message"]
    wait_for(lambda: warned(kubectl, namespace, "stuck", "SecretWriteFailed"), 30,
             "Warning Event on the StarOrder")
    assert len(ca_orders(star_env.ca, host)) == 1

"""``kill -9`` of the operator after each step of an issuance: after the restart every StarOrder
has exactly one order at the CA (counted in the CA's database) and a correct Secret (the key
staged before the crash, a certificate for it that chains to the CA's root).

Each step is stopped at deterministically by the gate (star_devenv.faults_gate) between the
operator and star-ca: it holds the ACME request that starts the next step, so when the test
sees that request held, every earlier step is done and recorded. Five StarOrders are brought to
five different steps in one operator run, then the operator is killed once:

=========  =========================================  ======================================
StarOrder  held request (the operator stopped in it)  after the kill
=========  =========================================  ======================================
staged     newOrder (key staged, newOrderAt set)      forwarded: the CA creates the order and
                                                      its answer is lost
ordered    challenge answer (order recorded, TXT up)  dropped
answered   finalize (challenge answered and valid)    dropped
finalized  finalize                                   forwarded: the CA issues, answer lost
fetching   star-certificate GET (order valid at the CA,  dropped
           StarCertificate created, StarOrder Ordered
           until the StarCertificate's first Ready)
=========  =========================================  ======================================
"""
from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest

from star_devenv.ca import LocalCA
from star_devenv.dns import LocalDNS
from star_devenv.faults_gate import HeldRequest, HttpGate
from star_devenv.kubectl import Kubectl
from star_operator import constants as c
from star_operator.verify import verify_certificate
from tests.integration.operator.op_env import (OperatorProcess, StarEnv, ca_orders, get,
                                               installed, secret_tls, wait_condition)
from tests.waiting import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.dns]

#: (StarOrder, method and path the gate holds, forward the held request after the kill?),
#: in the order they are started: each later one is held at an earlier step, so the rules of
#: the ones before never catch it.
STEPS = (
    ("fetching", "GET", r"^/acme/star/", False),
    ("finalized", "POST", r"/finalize$", True),
    ("answered", "POST", r"/finalize$", False),
    ("ordered", "POST", r"^/acme/chall/", False),
    ("staged", "POST", r"^/acme/new-order$", True),
)


@pytest.fixture(scope="module")
def gate(fault_ca: LocalCA) -> Iterator[HttpGate]:
    tls = fault_ca.data_dir / "tls"
    with HttpGate(fault_ca.base_url, cert_chain=tls / "serving-chain.pem",
                  key=tls / "serving-key.pem", ca_file=fault_ca.root_pem_path) as g:
        yield g


@pytest.fixture(scope="module")
def gated_env(kubectl: Kubectl, fault_crds: None, fault_dns: LocalDNS, fault_ca: LocalCA,
              gate: HttpGate) -> Iterator[StarEnv]:
    """CsrTemplates whose ACME directory is the gate's (trusting star-ca's root)."""
    env = StarEnv(kubectl, fault_dns, gate, suffix="gated",
                  trust_pem=fault_ca.root_pem_path.read_text())
    with installed(env):
        yield env


def host_of(name: str, ns: str) -> str:
    return f"{name}-{ns}.star.test"


def held_for(gate: HttpGate, kubectl: Kubectl, ns: str, name: str) -> HeldRequest | None:
    """The request the gate holds for StarOrder ``name`` (the newest one, if it was retried):
    by its recorded URLs where two StarOrders are held at the same kind of request."""
    status = (get(kubectl, "starorder", name, ns) or {}).get("status") or {}
    path = {step: path for step, _, path, _ in STEPS}[name]
    if name == "fetching":  # the StarCertificate's fetch (it has the URL before the StarOrder)
        spec = (get(kubectl, "starcertificate", name, ns) or {}).get("spec") or {}
        path = "^" + (spec.get("starCertificateURL") or "-").removeprefix(gate.base_url) + "$"
    elif name in ("finalized", "answered"):
        path = "^" + (status.get("orderURL") or "-").removeprefix(gate.base_url) + "/finalize$"
    held = gate.held(path)
    return held[-1] if held else None


def staged_key(kubectl: Kubectl, ns: str, name: str) -> bytes:
    data = (get(kubectl, "secret", f"{name}-tls", ns) or {}).get("data") or {}
    return base64.b64decode(data.get(c.STAGED_KEY) or data.get(c.TLS_KEY) or "")


def test_kill_after_each_issuance_step(kubectl: Kubectl, gated_env: StarEnv, gate: HttpGate,
                                       fault_ca: LocalCA, fault_operator: OperatorProcess,
                                       fault_namespace: str) -> None:
    ns, env = fault_namespace, gated_env
    wait_condition(kubectl, "csrtemplate", env.template, None, status="True")
    before: dict[str, dict[str, Any]] = {}
    keys: dict[str, bytes] = {}
    held: dict[str, HeldRequest] = {}
    try:
        for name, method, path, _ in STEPS:
            gate.hold(method, path)
            kubectl.apply(env.star_order(name, ns, [host_of(name, ns)], lifetime="1h",
                                         duration="1d"))
            held[name] = wait_for(lambda n=name: held_for(gate, kubectl, ns, n), 90,
                                  f"the gate to hold {name}'s {method} {path}")
        for name, *_ in STEPS:  # all held at once; what each has recorded so far
            before[name] = get(kubectl, "starorder", name, ns)["status"]
            keys[name] = staged_key(kubectl, ns, name)
        fault_operator.kill()
    finally:
        for name, _, _, forward in STEPS:
            if forward and name in held:  # the newest attempt: what a dead client last sent
                request = held_for(gate, kubectl, ns, name) or held[name]
                gate.release(request, forward=True)
        gate.open()

    # what each kill left behind, as recorded by the operator and at the CA
    assert before["staged"]["phase"] == "KeyStaged" and before["staged"].get("newOrderAt")
    assert not before["staged"].get("orderURL")
    for name in ("ordered", "answered", "finalized", "fetching"):
        assert before[name].get("orderURL"), name
    # Valid only with its StarCertificate's first Ready (ordering.readiness.Promotion)
    assert before["fetching"]["phase"] == "Ordered"
    assert get(kubectl, "starcertificate", "fetching", ns)
    assert secret_tls(kubectl, ns, "fetching-tls") is None  # no certificate written yet
    assert all(keys.values()), keys
    wait_for(lambda: [s for _, s in ca_orders(fault_ca, host_of("staged", ns))] == ["pending"],
             30, "the forwarded newOrder to create its order")
    wait_for(lambda: [s for _, s in ca_orders(fault_ca, host_of("finalized", ns))]
             == ["valid"], 30, "the forwarded finalize to issue")
    assert [s for _, s in ca_orders(fault_ca, host_of("answered", ns))] == ["ready"]
    assert [s for _, s in ca_orders(fault_ca, host_of("ordered", ns))] == ["pending"]

    fault_operator.start()
    for name, *_ in STEPS:
        host = host_of(name, ns)
        order = wait_condition(kubectl, "starorder", name, ns, status="True", reason="Issued",
                               timeout=90)
        orders = ca_orders(fault_ca, host)
        assert len(orders) == 1, (name, orders)  # exactly one CA order, never a second
        assert order["status"]["orderURL"].endswith("/" + orders[0][0]), name
        assert order["status"]["phase"] == "Valid" and order["status"]["starCertificateURL"]
        if before[name].get("orderURL"):
            assert order["status"]["orderURL"] == before[name]["orderURL"], name
        tls = wait_for(lambda name=name: secret_tls(kubectl, ns, f"{name}-tls"), 60,
                       f"{name}'s Secret")
        assert tls[1] == keys[name], name  # the key staged before the crash, not a new one
        verify_certificate(tls[0], tls[1], env.root_pem, expected_names=[host])

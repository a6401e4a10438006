"""kube-apiserver stopped for 30 s under a running operator while star-ca keeps publishing a
STAR certificate every 4 s: no renewal that fell due is missed. Within seconds of the API server
coming back the Secret holds the certificate the CA publishes then (not one from before the
outage), and from there every certificate the CA publishes reaches the Secret, in order, before
its predecessor expires; the key and the CA order never change. An emulated series (star-ca as
a public CA, 10-second certificates) rides out the same outage: its renewal lands within
seconds of the return, and every certificate the CA issued for it reached the Secret.

The control plane is the test's own (etcd keeps its state across the outage), so the session's
plane, shared by every other test, never goes away. The outage length is the fault itself, not
a synchronisation: the test waits it out while checking that the operator stays up.
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from tests.integration.faults.secret_watch import SecretVersion, SecretWatch

from star_devenv.ca import LocalCA
from star_devenv.controlplane import LocalControlPlane
from star_devenv.dns import LocalDNS
from star_devenv.kubectl import Kubectl
from tests.integration.operator.op_env import (OperatorProcess, StarEnv, _ca_query, apply_crds,
                                               ca_orders, get, installed, public_ca,
                                               wait_condition)
from tests.waiting import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.dns]

ROOT = Path(__file__).resolve().parents[3]
OUTAGE = 30.0
LIFETIME = 4  # seconds; star-ca publishes one every LIFETIME, each valid 1.5 * LIFETIME
CATCH_UP = 5.0  # seconds from the API server's return to the current certificate in the Secret
SHORT = 10  # seconds: the public CA's "short" profile, the emulated series' certificates


@dataclasses.dataclass
class OwnCluster:
    plane: LocalControlPlane
    kubectl: Kubectl
    operator: OperatorProcess


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnCluster]:
    """A control plane of the module's own with the CRDs, and the operator on it."""
    with LocalControlPlane() as plane:
        kubectl = Kubectl(plane.kubeconfig)
        apply_crds(kubectl, ROOT / "crds")
        operator = OperatorProcess(plane.kubeconfig, tmp_path_factory.mktemp("operator"))
        operator.start()
        try:
            yield OwnCluster(plane, kubectl, operator)
        finally:
            operator.stop()


def leaf_der(pem: bytes | str) -> bytes:
    data = pem.encode() if isinstance(pem, str) else pem
    return x509.load_pem_x509_certificates(data)[0].public_bytes(serialization.Encoding.DER)


def test_no_due_renewal_missed_across_apiserver_outage(cluster: OwnCluster, fault_dns: LocalDNS,
                                                       fault_ca: LocalCA) -> None:
    kubectl, operator = cluster.kubectl, cluster.operator
    ns, host, emu_host = "apioutage", "steady-apioutage.star.test", "emu-apioutage.star.test"
    with installed(StarEnv(kubectl, fault_dns, fault_ca, suffix="apiout")) as env, \
            public_ca(fault_dns, {"short": SHORT}) as public, \
            installed(StarEnv(kubectl, fault_dns, public, suffix="apiemu",
                              profile="short")) as emulated:
        kubectl.run("create", "namespace", ns)
        kubectl.apply(emulated.star_order("emu", ns, [emu_host], lifetime=f"{SHORT}s",
                                          duration="1h"))
        kubectl.apply(env.star_order("steady", ns, [host], lifetime=f"{LIFETIME}s",
                                     duration="1h"))
        order_url = wait_condition(kubectl, "starorder", "steady", ns, status="True",
                                   reason="Issued", timeout=90)["status"]["orderURL"]
        wait_condition(kubectl, "starorder", "emu", ns, status="True", reason="Issued",
                       timeout=90)
        with SecretWatch(kubectl, ns) as watch:
            wait_for(lambda: watch.versions("steady-tls"), 30, "the first certificate")
            down_at, end = time.time(), time.monotonic() + OUTAGE
            cluster.plane.stop_apiserver()  # SIGTERM, SIGKILL after 10 s: part of the outage

            def outage_over() -> bool:
                assert operator.proc is not None and operator.proc.poll() is None, \
                    "the operator exited while the API server was down"
                return time.monotonic() >= end
            wait_for(outage_over, OUTAGE + 5, "the outage", interval=1.0)
            cluster.plane.start_apiserver()
            up_at = time.time()
            # the catch-up, then the next publication after it
            wait_for(lambda: len([v for v in watch.versions("steady-tls")
                                  if v.seen > up_at]) >= 2
                     and [v for v in watch.versions("emu-tls") if v.seen > down_at], 30,
                     "renewals after the outage")
            versions, emu_versions = watch.versions("steady-tls"), watch.versions("emu-tls")
            emu_issued = [leaf_der(pem) for idents, pem in _ca_query(
                public, "SELECT o.identifiers, c.chain_pem FROM certs c JOIN orders o "
                        "ON o.id = c.order_id ORDER BY c.not_before") if emu_host in idents]
        after = get(kubectl, "starorder", "steady", ns)
        kubectl.run("delete", "starorder", "steady", "emu", "-n", ns, "--timeout=60s",
                    check=False, timeout=90)  # ended at the CA; the plane goes with the module

    rows = [r for r in _ca_query(fault_ca, "SELECT order_id, seq, not_before, not_after, "
                                           "chain_pem FROM certs ORDER BY seq")
            if order_url.endswith("/" + r[0])]
    seq_of = {leaf_der(r[4]): r[1] for r in rows}
    window = {r[1]: (r[2], r[3]) for r in rows}

    def seq(v: SecretVersion) -> int:
        return seq_of[leaf_der(v.tls_crt)]  # KeyError: a certificate the CA never issued

    missed = [s for s, (nb, _) in window.items() if down_at < nb < up_at]
    assert len(missed) >= 5, missed  # renewals did fall due while the API server was away
    published_at_return = max(s for s, (nb, _) in window.items() if nb <= up_at)
    later = [v for v in versions if v.seen > up_at]
    assert later[0].seen - up_at < CATCH_UP, later[0].seen - up_at
    assert seq(later[0]) >= published_at_return  # caught up to the current one, not a stale one
    seqs = [seq(v) for v in later]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), seqs  # no gap after the return
    for prev, nxt in zip(later, later[1:]):
        assert nxt.seen <= window[seq(prev)][1] + 1.0, (seq(prev), seq(nxt))  # before expiry
    assert {v.tls_key for v in versions} == {versions[0].tls_key}
    assert after["status"]["orderURL"] == order_url and after["status"]["phase"] == "Valid"
    assert len(ca_orders(fault_ca, host)) == 1

    # the emulated series: renewed on the return, and nothing the CA issued went unused
    emu_after = [v for v in emu_versions if v.seen > down_at]
    assert emu_after[0].seen - up_at < CATCH_UP, emu_after[0].seen - up_at
    emu_seen = [leaf_der(v.tls_crt) for v in emu_versions]
    assert emu_issued[:len(emu_seen)] == emu_seen, "a certificate the CA issued never arrived"
    assert len(emu_issued) - len(emu_seen) <= 1  # at most one renewal in flight at the end

"""BIND 9 down during an issuance: the StarOrder says so (``DNSServerUnreachable``, naming the
server), the operator retries with a growing backoff (attempts counted in its metrics and
timed from its log, one Warning Event rather than one per attempt), and the issuance completes
on the one CA order once BIND is back on its port."""
from __future__ import annotations

import datetime
from collections.abc import Iterator

import pytest

from star_devenv.ca import LocalCA
from star_devenv.dns import LocalDNS
from star_devenv.kubectl import Kubectl
from star_operator.verify import verify_certificate
from tests.integration.operator.op_env import (OperatorProcess, StarEnv, ca_orders, events,
                                               installed, log_records, ready, scrape,
                                               secret_tls, wait_condition)
from tests.waiting import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.dns]

ATTEMPTS = 4  # failed dns-01 attempts observed before BIND comes back
BACKOFF_MIN, BACKOFF_MAX = 0.5, 5.0  # OperatorProcess's STAR_OPERATOR_BACKOFF_MIN/_MAX
DNS01 = ("star_operator_acme_request_duration_seconds_count", frozenset({("action", "dns-01")}))


@pytest.fixture(scope="module")
def env(kubectl: Kubectl, fault_crds: None, fault_dns: LocalDNS, fault_ca: LocalCA
        ) -> Iterator[StarEnv]:
    with installed(StarEnv(kubectl, fault_dns, fault_ca, suffix="dnsdown")) as e:
        yield e


def attempt_times(operator: OperatorProcess, name: str) -> list[float]:
    """When each failed attempt was logged (the operator's JSON log), in seconds."""
    return [datetime.datetime.fromisoformat(r["timestamp"]).timestamp()
            for r in log_records(operator, name, "failed temporarily: DNSServerUnreachable")]


def test_dns_server_down_then_back(kubectl: Kubectl, env: StarEnv, fault_dns: LocalDNS,
                                   fault_ca: LocalCA, fault_operator: OperatorProcess,
                                   fault_namespace: str) -> None:
    ns, host = fault_namespace, f"nodns-{fault_namespace}.star.test"
    wait_condition(kubectl, "csrtemplate", env.template, None, status="True")
    counted = scrape(fault_operator.metrics_url).get(DNS01, 0.0)
    fault_dns.stop()
    try:
        kubectl.apply(env.star_order("nodns", ns, [host], lifetime="1h", duration="1d"))
        down = wait_condition(kubectl, "starorder", "nodns", ns, status="False",
                              reason="DNSServerUnreachable", timeout=60)
        assert fault_dns.server in ready(down)["message"], ready(down)["message"]
        assert down["status"]["orderURL"]  # the order was placed; dns-01 is what waits
        times = wait_for(lambda: len(t := attempt_times(fault_operator, "nodns")) >= ATTEMPTS
                         and t, 60, f"{ATTEMPTS} attempts")
        attempts = scrape(fault_operator.metrics_url)[DNS01] - counted
    finally:
        fault_dns.start()

    gaps = [b - a for a, b in zip(times, times[1:])]
    assert attempts >= len(times) and attempts <= len(times) + 1, (attempts, times)
    # backing off, not a storm: each wait at least the doubling backoff the operator runs with
    # in the tests (STAR_OPERATOR_BACKOFF_MIN 0.5 s, _MAX 5 s); a loaded machine only adds
    backoff = [min(BACKOFF_MAX, BACKOFF_MIN * 2 ** i) for i in range(len(gaps))]
    assert all(g >= 0.9 * b for g, b in zip(gaps, backoff)), (gaps, backoff)
    assert len([e for e in events(kubectl, ns, "nodns")
                if e["reason"] == "DNSServerUnreachable"]) == 1  # an Event, not one per attempt

    wait_condition(kubectl, "starorder", "nodns", ns, status="True", reason="Issued",
                   timeout=60)
    assert len(ca_orders(fault_ca, host)) == 1
    tls = wait_for(lambda: secret_tls(kubectl, ns, "nodns-tls"), 30, "the certificate")
    verify_certificate(tls[0], tls[1], env.root_pem, expected_names=[host])

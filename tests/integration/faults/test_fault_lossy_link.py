"""Packet loss and latency between the operator and star-ca: star-ca runs inside a network
namespace whose iptables drop 10 % of the packets to and from its port at random, and the
operator reaches it through a relay that adds 300 ms to each direction. The order still
completes (on one CA order) and every renewal lands in the Secret within its window: after the
new certificate is published and before the one it replaces expires.

Needs root for the namespace; without it the fixture fails with the command's message."""
from __future__ import annotations

import datetime
import types
from collections.abc import Iterator

import pytest
from cryptography import x509
from tests.integration.faults.secret_watch import SecretWatch

from star_devenv.dns import LocalDNS
from star_devenv.faults_delay import DelayProxy
from star_devenv.faults_netns import LossyNamespace, NamespacedCA
from star_devenv.kubectl import Kubectl
from star_operator.verify import verify_certificate
from tests.integration.operator.op_env import (OperatorProcess, StarEnv, ca_orders, installed,
                                               scrape, wait_condition)
from tests.waiting import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.dns]

LOSS, DELAY = 0.1, 0.3  # share of packets dropped each way; seconds added each way
LIFETIME = 8  # seconds: a new certificate every 8 s, each valid 12 s
NEW_ORDER = ("star_operator_acme_request_duration_seconds",
             frozenset({("action", "new-order")}))


@pytest.fixture(scope="module")
def link(tmp_path_factory: pytest.TempPathFactory) -> Iterator[types.SimpleNamespace]:
    """The namespace, BIND 9 on its outer address (reached by the operator here and by the CA
    from inside), star-ca inside it with the loss rules on its port, and the delaying relay."""
    with LossyNamespace() as netns, \
            LocalDNS("star.test", host=netns.outside) as dns, \
            NamespacedCA(netns, dns_server=dns.server, min_lifetime=1,
                         max_duration=86400) as ca:
        netns.lose(ca.port, LOSS)
        with DelayProxy((ca.host, ca.port), DELAY) as proxy:
            yield types.SimpleNamespace(netns=netns, dns=dns, ca=ca, proxy=proxy)


@pytest.fixture(scope="module")
def env(kubectl: Kubectl, fault_crds: None, link: types.SimpleNamespace) -> Iterator[StarEnv]:
    """CsrTemplates ordering through the relay (whose address star-ca's certificate names)."""
    front = types.SimpleNamespace(directory_url=f"https://127.0.0.1:{link.proxy.port}/directory")
    with installed(StarEnv(kubectl, link.dns, front, suffix="lossy",
                           trust_pem=link.ca.root_pem_path.read_text())) as e:
        yield e


def leaf(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificates(pem)[0]


def test_orders_and_renewals_over_a_lossy_slow_link(
        kubectl: Kubectl, env: StarEnv, link: types.SimpleNamespace,
        fault_operator: OperatorProcess, fault_namespace: str) -> None:
    ns, host = fault_namespace, f"lossy-{fault_namespace}.star.test"
    before = scrape(fault_operator.metrics_url)
    with SecretWatch(kubectl, ns) as watch:
        kubectl.apply(env.star_order("lossy", ns, [host], lifetime=f"{LIFETIME}s",
                                     duration="1h"))
        wait_condition(kubectl, "starorder", "lossy", ns, status="True", reason="Issued",
                       timeout=120)
        wait_for(lambda: len(watch.versions("lossy-tls")) >= 3, 4 * LIFETIME,
                 "two renewals over the lossy link")
        versions = watch.versions("lossy-tls")
    after = scrape(fault_operator.metrics_url)

    assert len(ca_orders(link.ca, host)) == 1
    for prev, nxt in zip(versions, versions[1:]):
        seen = datetime.datetime.fromtimestamp(nxt.seen, datetime.timezone.utc)
        assert leaf(nxt.tls_crt).not_valid_before_utc <= seen <= leaf(
            prev.tls_crt).not_valid_after_utc, "a renewal landed outside its window"
        verify_certificate(nxt.tls_crt, nxt.tls_key, env.root_pem, expected_names=[host],
                           now=leaf(nxt.tls_crt).not_valid_before_utc
                           + datetime.timedelta(seconds=1))
    # the faults were real: packets were dropped, and newOrder took at least the added round trip
    assert link.netns.dropped() > 0
    assert link.proxy.connections > 0
    count = (NEW_ORDER[0] + "_count", NEW_ORDER[1])
    total = (NEW_ORDER[0] + "_sum", NEW_ORDER[1])
    orders = after[count] - before.get(count, 0.0)
    assert orders >= 1 and (after[total] - before.get(total, 0.0)) / orders >= 2 * DELAY

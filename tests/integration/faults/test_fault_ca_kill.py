"""``kill -9`` of star-ca during a renewal burst (many STAR series renewing every two seconds,
the last ones still being issued), restarted at once on the same database: no order is lost
(every series runs to its end-date and every Secret ends on the CA's last certificate), no
serial is issued twice or for two windows, no certificate outlives its order's end-date, and
the Secrets only ever held certificates the CA recorded for that order, all for one key."""
from __future__ import annotations

import collections
import datetime
from collections.abc import Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from tests.integration.faults.secret_watch import SecretWatch

from star_devenv.ca import LocalCA
from star_devenv.dns import LocalDNS
from star_devenv.kubectl import Kubectl
from star_operator import timeutil
from star_operator.verify import verify_certificate
from tests.integration.operator.op_env import StarEnv, _ca_query, get, installed
from tests.waiting import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.dns]

ORDERS = 10
LIFETIME, DURATION = 2, 20  # seconds: ten certificates per series


@pytest.fixture(scope="module")
def env(kubectl: Kubectl, fault_crds: None, fault_dns: LocalDNS, fault_ca: LocalCA
        ) -> Iterator[StarEnv]:
    with installed(StarEnv(kubectl, fault_dns, fault_ca, suffix="cakill")) as e:
        yield e


def ca_certs(ca: LocalCA) -> dict[str, list[tuple[str, int, float, float, str]]]:
    """order id -> (serial, seq, notBefore, notAfter, chain PEM) of its certificates by seq."""
    out: dict[str, list[tuple[str, int, float, float, str]]] = collections.defaultdict(list)
    for order_id, *row in _ca_query(ca, "SELECT order_id, serial, seq, not_before, not_after, "
                                        "chain_pem FROM certs ORDER BY seq"):
        out[order_id].append(tuple(row))  # type: ignore[arg-type]
    return out


def valid_status(kubectl: Kubectl, ns: str, name: str) -> dict | None:
    """The StarOrder's status once its order is valid (phase, not Ready: a series that reached
    its end-date by now is no longer Ready)."""
    status = (get(kubectl, "starorder", name, ns) or {}).get("status") or {}
    return status if status.get("phase") == "Valid" else None


def leaf_der(chain_pem: bytes | str) -> bytes:
    data = chain_pem.encode() if isinstance(chain_pem, str) else chain_pem
    return x509.load_pem_x509_certificates(data)[0].public_bytes(
        serialization.Encoding.DER)


def test_ca_killed_during_renewal_burst(kubectl: Kubectl, env: StarEnv, fault_ca: LocalCA,
                                        fault_operator, fault_namespace: str) -> None:
    ns = fault_namespace
    names = [f"burst{i}" for i in range(ORDERS)]
    hosts = {n: f"{n}-{ns}.star.test" for n in names}
    with SecretWatch(kubectl, ns) as watch:
        for name in names:
            kubectl.apply(env.star_order(name, ns, [hosts[name]], lifetime=f"{LIFETIME}s",
                                         duration=f"{DURATION}s"))
        # The burst: half the series renewing at the CA (certificate 0 at finalize, 1 signed
        # ahead at once, so a third means a renewal), the rest renewing or still being issued;
        # the kill lands right after a renewal was committed, while others are due.
        wait_for(lambda: sum(len(c) >= 3 for c in ca_certs(fault_ca).values()) >= ORDERS // 2,
                 90, "half the series renewing")
        total = sum(len(c) for c in ca_certs(fault_ca).values())
        wait_for(lambda: sum(len(c) for c in ca_certs(fault_ca).values()) > total, 10,
                 "the next renewal")
        fault_ca.kill()
        fault_ca.start()

        orders = {n: wait_for(lambda n=n: valid_status(kubectl, ns, n), 90, f"{n} Valid")
                  for n in names}
        ids = {n: orders[n]["orderURL"].rsplit("/", 1)[1] for n in names}
        for name in names:  # every series runs to its end-date through the restarted CA
            wait_for(lambda n=name: (get(kubectl, "starcertificate", n, ns) or {}).get(
                "status", {}).get("state") == "EndDateReached", DURATION + 60,
                f"{name}'s last certificate")
        versions = {n: watch.versions(f"{n}-tls") for n in names}

    certs = ca_certs(fault_ca)
    serials = [c[0] for rows in certs.values() for c in rows]
    assert len(serials) == len(set(serials))  # no serial twice, across all orders
    series = {o: (end, stopped) for o, end, stopped in
              _ca_query(fault_ca, "SELECT order_id, end_, stopped FROM star_series")}
    for name in names:
        rows, (end, stopped) = certs[ids[name]], series[ids[name]]
        seqs = [r[1] for r in rows]
        assert len(seqs) == len(set(seqs)), name  # one certificate per window
        assert all(r[3] <= end for r in rows), name  # nothing beyond the end-date
        assert rows[-1][3] == end and stopped, name  # the series ran to its end
        assert timeutil.parse_time(orders[name]["endDate"]) == datetime.datetime.fromtimestamp(
            end, datetime.timezone.utc), name
        # what the Secret held: only this order's recorded certificates, for one key
        recorded = {leaf_der(r[4]): r for r in rows}
        seen = versions[name]
        assert len(seen) >= 3, (name, len(seen))
        assert {v.tls_key for v in seen} == {seen[0].tls_key}, name
        for version in seen:
            assert leaf_der(version.tls_crt) in recorded, name
            row = recorded[leaf_der(version.tls_crt)]
            verify_certificate(version.tls_crt, version.tls_key, env.root_pem,
                               expected_names=[hosts[name]],
                               now=datetime.datetime.fromtimestamp(row[2] + 0.5,
                                                                   datetime.timezone.utc))
        assert leaf_der(seen[-1].tls_crt) == leaf_der(rows[-1][4]), name  # ends on the last

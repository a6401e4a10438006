"""Two star-ca replicas on one real PostgreSQL database behind a TCP load balancer that sends
each connection to the next replica (the client opens one per request): any replica answers
any request (a nonce from one is good at the other, once), STAR renewals with both schedulers
competing for them have no position signed twice and none skipped, a cancellation at one
replica is honoured by the other within a second, and killing one replica mid-renewal loses no
renewal."""
from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from ca_testclient import Client, wait
from cryptography import x509
from test_ca_star import star_order

from star_devenv.ca import LocalCA
from star_devenv.balancer import Balancer
from star_devenv.postgres import LocalPostgres
from tests.postgres_fixtures import postgres  # noqa: F401  (session PostgreSQL)

ERR = "urn:ietf:params:acme:error:"


class Replicas:
    def __init__(self, postgres: LocalPostgres, dns_server: Any, http01: Any) -> None:  # noqa: F811
        self.database_url = postgres.database()
        self.database = self.database_url.rsplit("/", 1)[1]
        self.postgres = postgres
        self.cas = [LocalCA(dns_server=dns_server.server, http01_port=http01.port,
                            min_lifetime=1, max_duration=3600,
                            extra_args=["--database-url", self.database_url])
                    for _ in range(2)]
        for ca in self.cas:
            ca.start()
        self.balancer = Balancer([(ca.host, ca.port) for ca in self.cas]).start()
        self.directory_url = f"https://127.0.0.1:{self.balancer.port}/directory"
        self.root = str(self.cas[0].root_pem_path)

    def client(self) -> Client:
        c = Client(self.directory_url, self.root)
        c.http.headers["Connection"] = "close"  # a new connection, so the next replica, each time
        assert c.register().status_code == 201
        return c

    def sql(self, query: str) -> list[list[str]]:
        out = self.postgres.psql(query, self.database)
        return [line.split("|") for line in out.splitlines() if line]

    def close(self) -> None:
        self.balancer.stop()
        for ca in self.cas:
            ca.stop()


@pytest.fixture(scope="module")
def replicas(postgres: LocalPostgres, dns_server: Any,  # noqa: F811
             http01: Any) -> Iterator[Replicas]:
    r = Replicas(postgres, dns_server, http01)
    try:
        yield r
    finally:
        r.close()


def _leaf(resp: requests.Response) -> x509.Certificate:
    assert resp.status_code == 200, resp.text
    return x509.load_pem_x509_certificates(resp.content)[0]


def test_one_hierarchy_and_any_replica_answers(replicas: Replicas, dns01_present: Any) -> None:
    a, b = replicas.cas
    assert a.root_pem_path.read_bytes() == b.root_pem_path.read_bytes()
    before = list(replicas.balancer.per_upstream)
    client = replicas.client()
    _, order, _ = star_order(client, dns01_present, lifetime=5, duration=60)
    served = [replicas.balancer.per_upstream[i] - before[i] for i in range(2)]
    assert min(served) >= 5, served  # the flow's requests went to both replicas
    nonce = client.nonce()
    first = client.post(client.kid, nonce=nonce)  # at one replica
    replay = client.post(client.kid, nonce=nonce)  # at the other
    assert first.status_code == 200, first.text
    assert replay.status_code == 400 and replay.json()["type"] == ERR + "badNonce"
    url = order["star-certificate"]
    assert _leaf(client.http.get(url)).serial_number == _leaf(client.http.get(url)).serial_number


def test_competing_schedulers_renew_each_position_once(replicas: Replicas,
                                                      dns01_present: Any) -> None:
    client = replicas.client()
    orders = [star_order(client, dns01_present, lifetime=2, duration=40)[1] for _ in range(4)]
    tokens = [o["star-certificate"].rsplit("/", 1)[1] for o in orders]
    marks = ",".join(f"'{t}'" for t in tokens)

    def positions() -> list[list[str]]:
        return replicas.sql(f"SELECT c.order_id, c.seq, c.serial FROM certs c JOIN orders o "
                            f"ON o.id=c.order_id WHERE o.star_token IN ({marks})")

    wait(lambda: len(positions()) >= 4 * 6, timeout=40, what="six certificates per series")
    rows = positions()
    assert len({serial for _, _, serial in rows}) == len(rows)  # no serial twice
    by_order: dict[str, list[int]] = {}
    for order_id, seq, _ in rows:
        by_order.setdefault(order_id, []).append(int(seq))
    for seqs in by_order.values():  # no position twice, none skipped
        assert sorted(seqs) == list(range(len(seqs))), seqs
    # Which replica wins a claim is a race (one may win them all); that the other takes over
    # is shown by killing one (test_killing_a_replica_mid_renewal_loses_nothing).


def test_a_cancellation_at_one_replica_holds_at_the_other(replicas: Replicas,
                                                          dns01_present: Any) -> None:
    client = replicas.client()
    order_url, order, _ = star_order(client, dns01_present, lifetime=5, duration=60)
    url = order["star-certificate"]
    for _ in range(2):  # both replicas have answered (and cached) the GET
        _leaf(client.http.get(url))
    r = client.post(order_url, {"status": "canceled"})
    assert r.status_code == 200 and r.json()["status"] == "canceled", r.text

    def refused_at_both() -> bool:
        answers = [client.http.get(url) for _ in range(2)]
        return all(a.status_code == 403 and a.json()["type"] == ERR + "autoRenewalCanceled"
                   for a in answers)

    wait(refused_at_both, timeout=3, what="403 autoRenewalCanceled from both replicas")


def test_killing_a_replica_mid_renewal_loses_nothing(replicas: Replicas,
                                                     dns01_present: Any) -> None:
    client = replicas.client()
    orders = [star_order(client, dns01_present, lifetime=2, duration=60)[1] for _ in range(4)]
    urls = [o["star-certificate"] for o in orders]
    wait(lambda: "renewal batch:" in replicas.cas[0].log_path.read_text(), timeout=20,
         what="replica 0 renewing")
    replicas.cas[0].kill()
    try:
        deadline = time.time() + 12  # six lifetimes on the survivor alone
        last = {u: 0 for u in urls}
        while time.time() < deadline:
            for u in urls:
                leaf = _leaf(client.http.get(u))
                now = time.time()
                assert leaf.not_valid_before_utc.timestamp() <= now
                assert leaf.not_valid_after_utc.timestamp() > now, "an expired certificate"
                last[u] = max(last[u], int(leaf.not_valid_before_utc.timestamp()))
            time.sleep(0.2)  # pacing the probe, not synchronising: each check is on the clock
        assert all(nb >= deadline - 4 for nb in last.values()), last  # still renewing
        rows = replicas.sql("SELECT order_id, seq FROM certs")
        assert len(rows) == len({(o, s) for o, s in rows})
    finally:
        replicas.cas[0].start()

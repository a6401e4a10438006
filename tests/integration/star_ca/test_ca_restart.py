"""Durable state: after ``kill -9`` and a restart on the same data directory the CA keeps its
root, accounts and orders, and the scheduler catches up (current certificate served, no
duplicate serial, nothing beyond end-date)."""
from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ca_testclient import Client, wait
from cryptography import x509
from test_ca_star import star_order

from star_devenv.ca import LocalCA
from star_ca.star.window import SeriesParams, current_seq, window


@pytest.fixture
def own_ca(tmp_path: Path, dns_server: Any, http01: Any) -> Iterator[LocalCA]:
    with LocalCA(data_dir=tmp_path / "ca", dns_server=dns_server.server,
                 http01_port=http01.port, max_duration=3600) as local_ca:
        yield local_ca


def test_kill9_and_restart(own_ca: LocalCA, dns01_present: Any) -> None:
    client = Client(own_ca.directory_url, str(own_ca.root_pem_path))
    assert client.register().status_code == 201
    root_before = own_ca.root_pem_path.read_bytes()
    order_url, order, _ = star_order(client, dns01_present, lifetime=2, duration=30)
    url = order["star-certificate"]
    assert client.http.get(url).status_code == 200

    own_ca.kill()
    down_until = time.time() + 5  # miss a couple of renewals
    wait(lambda: time.time() > down_until, timeout=10, what="downtime")
    own_ca.start()

    assert own_ca.root_pem_path.read_bytes() == root_before
    client.http.verify = str(own_ca.root_pem_path)
    assert client.get(order_url)["status"] == "valid"  # account (kid) and order survived
    db = sqlite3.connect(own_ca.data_dir / "star-ca.sqlite3")
    (first_nrd, start, end, lifetime, adjust), = db.execute(
        "SELECT first_nrd, start, end_, lifetime, lifetime_adjust FROM star_series")
    params = SeriesParams(first_nrd, start, end, lifetime, adjust)

    def current_served() -> bool:
        r = client.http.get(url)
        leaf = x509.load_pem_x509_certificates(r.content)[0]
        seq = current_seq(params, time.time())
        w = window(params, seq) if seq is not None else None
        return r.status_code == 200 and w is not None and \
            leaf.not_valid_before_utc.timestamp() == w.not_before

    wait(current_served, timeout=10, what="scheduler catch-up")
    rows = db.execute("SELECT serial, seq, not_after FROM certs").fetchall()
    assert len({r[0] for r in rows}) == len(rows)
    assert len({r[1] for r in rows}) == len(rows)
    assert all(r[2] <= end for r in rows)
    seqs = sorted(r[1] for r in rows)
    assert seqs[-1] - seqs[0] + 1 > len(seqs)  # windows missed while down were skipped
    db.close()

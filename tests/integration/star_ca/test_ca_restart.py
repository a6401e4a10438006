"""Durable state: after ``kill -9`` and a restart on the same data directory the CA keeps its
root, accounts and orders, and the scheduler catches up (current certificate served, no
duplicate serial, nothing beyond end-date). A CA killed in the middle of finalize (order already
``processing``) finishes the issuance on restart, re-checking CAA (star_ca.issuance)."""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import josepy as jose
import requests
from ca_testclient import Client, DnsGate, make_csr, unique, wait
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


ERR = "urn:ietf:params:acme:error:"


@pytest.fixture
def gate(dns_server: Any) -> Iterator[DnsGate]:
    g = DnsGate((dns_server.host, dns_server.port))
    yield g
    g.close()


@pytest.fixture
def gated_ca(tmp_path: Path, gate: DnsGate) -> Iterator[LocalCA]:
    """A CA whose DNS goes through ``gate``, so a test can freeze it inside a CAA lookup."""
    with LocalCA(data_dir=tmp_path / "ca", dns_server=gate.server, max_duration=3600) as ca:
        yield ca


def _db_rows(ca: LocalCA, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(f"file:{ca.data_dir / 'star-ca.sqlite3'}?mode=ro", uri=True)
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def _kill_during_finalize(ca: LocalCA, gate: DnsGate, dns01_present: Any,
                          names: list[str]) -> tuple[Client, str, Any]:
    """Order, validate, then finalize with CAA queries held and ``kill -9`` the CA once it is
    inside the CAA lookup. Returns (client, order URL, CSR key) with the CA down."""
    client = Client(ca.directory_url, str(ca.root_pem_path))
    assert client.register().status_code == 201
    r = client.new_order(names)
    assert r.status_code == 201, r.text
    order_url = r.headers["Location"]
    client.authorize(r.json(), "dns-01", dns01_present)
    order = wait(lambda: (o := client.get(order_url))["status"] == "ready" and o,
                 what="order ready")
    csr, key = make_csr(names)
    body = json.dumps(client.jws(order["finalize"], {"csr": jose.encode_b64jose(csr)}))
    gate.hold.add("CAA")

    def finalize() -> None:  # its connection dies with the CA; only the server side matters
        try:
            requests.post(order["finalize"], data=body, verify=str(ca.root_pem_path),
                          headers={"Content-Type": "application/jose+json"}, timeout=30)
        except requests.RequestException:
            pass

    thread = threading.Thread(target=finalize, daemon=True)
    thread.start()
    assert gate.held.wait(30), "the CA never asked for CAA"
    order_id = order_url.rsplit("/", 1)[1]
    assert _db_rows(ca, "SELECT status FROM orders WHERE id=?", order_id) == [("processing",)]
    assert len(_db_rows(ca, "SELECT csr FROM finalizing WHERE order_id=?", order_id)) == 1
    ca.kill()
    thread.join(30)
    gate.hold.clear()
    return client, order_url, key


def test_kill9_during_finalize_resumes_issuance(gated_ca: LocalCA, gate: DnsGate,
                                                 dns01_present: Any) -> None:
    names = [unique("crash")]
    client, order_url, key = _kill_during_finalize(gated_ca, gate, dns01_present, names)
    gated_ca.start()
    order = wait(lambda: (o := client.get(order_url))["status"] != "processing" and o,
                 what="order out of processing")
    assert order["status"] == "valid", order
    r = client.post(order["certificate"])
    assert r.status_code == 200, r.text
    leaf = x509.load_pem_x509_certificates(r.content)[0]
    assert leaf.public_key().public_numbers() == key.public_key().public_numbers()
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == names
    order_id = order_url.rsplit("/", 1)[1]
    assert len(_db_rows(gated_ca, "SELECT id FROM certs WHERE order_id=?", order_id)) == 1
    assert _db_rows(gated_ca, "SELECT order_id FROM finalizing") == []


def test_kill9_during_finalize_rechecks_caa(gated_ca: LocalCA, gate: DnsGate, dns_server: Any,
                                            dns01_present: Any) -> None:
    """CAA that changed while the CA was down is honoured by the resumed issuance."""
    names = [unique("crash")]
    client, order_url, _ = _kill_during_finalize(gated_ca, gate, dns01_present, names)
    dns_server.set_caa(names[0], ['0 issue "other-ca.test"'])
    gated_ca.start()
    order = wait(lambda: (o := client.get(order_url))["status"] != "processing" and o,
                 what="order out of processing")
    assert order["status"] == "invalid" and order["error"]["type"] == ERR + "caa", order
    assert "certificate" not in order

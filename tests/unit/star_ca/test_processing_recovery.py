"""Start-up recovery of orders a crash left in ``processing`` (star_ca.issuance), for the
cases decided from the database alone. Resumed issuance is tested with a real ``kill -9`` in
tests/integration/star_ca/test_ca_restart.py."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from star_ca.config import Config
from star_ca.db import Authz, Order, Store
from star_ca.issuance import recover_processing
from star_ca.services import Services

ERR = "urn:ietf:params:acme:error:"


def _services(store: Store) -> Services:
    none: Any = None  # recovery without a CSR or with stale authorizations touches only the DB
    return Services(config=Config(), store=store, nonces=none, issuer=none, dns=none, caa=none,
                    validator=none, scheduler=none)


def _order(store: Store, order_id: str, authz_expires: float) -> Order:
    now = time.time()
    order = Order(order_id, "acct", "processing", now + 3600, ["a.star.test"], None, None,
                  "https://ca.test", None, None)
    authz = Authz(order_id + "-z", "acct", order_id, "a.star.test", False, "valid",
                  authz_expires, "dns-01")
    store.create_order(order, [authz], [], now)
    return order


def test_processing_without_kept_csr_becomes_invalid(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.sqlite3")
    _order(store, "o1", time.time() + 3600)  # as written by a CA that did not keep the CSR
    asyncio.run(recover_processing(_services(store)))
    order = store.order("o1")
    assert order is not None and order.status == "invalid"
    assert order.error is not None and order.error["type"] == ERR + "serverInternal"
    assert store.processing_orders() == []


def test_processing_with_expired_authorization_becomes_invalid(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.sqlite3")
    order = _order(store, "o2", time.time() - 1)
    order.status = "ready"
    store.begin_processing(order, b"csr", time.time())
    assert [(o.id, csr) for o, csr in store.processing_orders()] == [("o2", b"csr")]
    asyncio.run(recover_processing(_services(store)))
    recovered = store.order("o2")
    assert recovered is not None and recovered.status == "invalid"
    assert recovered.error is not None and recovered.error["type"] == ERR + "unauthorized"
    assert store.conn.execute("SELECT COUNT(*) FROM finalizing").fetchone() == (0,)

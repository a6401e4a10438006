"""Start-up recovery of orders a crash left in ``processing`` (star_ca.issuance), for the
cases decided from the database alone. Resumed issuance is tested with a real ``kill -9`` in
tests/integration/star_ca/test_ca_restart.py."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from star_ca.config import Config
from star_ca.db import Authz, Order, Store, open_sqlite
from star_ca.issuance import recover_processing
from star_ca.services import Services

ERR = "urn:ietf:params:acme:error:"


def _services(store: Store) -> Services:
    none: Any = None  # recovery without a CSR or with stale authorizations touches only the DB
    return Services(config=Config(), store=store, nonces=none, issuer=none, dns=none, caa=none,
                    validator=none, scheduler=none)


async def _order(store: Store, order_id: str, authz_expires: float) -> Order:
    now = time.time()
    order = Order(order_id, "acct", "processing", now + 3600, ["a.star.test"], None, None,
                  "https://ca.test", None, None)
    authz = Authz(order_id + "-z", "acct", order_id, "a.star.test", False, "valid",
                  authz_expires, "dns-01")
    await store.create_order(order, [authz], [], now)
    return order


async def test_processing_without_kept_csr_becomes_invalid(tmp_path: Path) -> None:
    store = open_sqlite(tmp_path / "db.sqlite3")
    await _order(store, "o1", time.time() + 3600)  # as written by a CA that did not keep the CSR
    await recover_processing(_services(store))
    order = await store.order("o1")
    assert order is not None and order.status == "invalid"
    assert order.error is not None and order.error["type"] == ERR + "serverInternal"
    assert await store.claim_processing(float("inf"), time.time()) == []


async def test_processing_with_expired_authorization_becomes_invalid(tmp_path: Path) -> None:
    store = open_sqlite(tmp_path / "db.sqlite3")
    order = await _order(store, "o2", time.time() - 1)
    order.status = "ready"
    await store.save_order(order)
    assert await store.begin_processing(order, b"csr", time.time())
    assert not await store.begin_processing(order, b"csr", time.time())  # taken already
    await recover_processing(_services(store))
    recovered = await store.order("o2")
    assert recovered is not None and recovered.status == "invalid"
    assert recovered.error is not None and recovered.error["type"] == ERR + "unauthorized"
    assert await store.db.fetchone("SELECT COUNT(*) FROM finalizing") == (0,)


async def test_a_claimed_finalize_is_not_recovered_twice(tmp_path: Path) -> None:
    """Replicas recovering together: the first claim takes the order, the second finds none,
    and an order a peer began finalizing a moment ago is left to it."""
    store = open_sqlite(tmp_path / "db.sqlite3")
    order = await _order(store, "o3", time.time() + 3600)
    order.status = "ready"
    await store.save_order(order)
    began = time.time()
    assert await store.begin_processing(order, b"csr", began)
    assert await store.claim_processing(began - 60, began) == []  # fresh: a peer is on it
    claimed = await store.claim_processing(began + 1, began + 1)
    assert [(o.id, csr) for o, csr in claimed] == [("o3", b"csr")]
    assert await store.claim_processing(began + 1, began + 2) == []

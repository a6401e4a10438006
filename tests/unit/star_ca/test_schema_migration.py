"""A data directory written before profiles/ARI is upgraded in place and keeps its orders."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from star_ca.db import Order, open_sqlite
from star_ca.db.schema import MIGRATIONS, SCHEMA


def _old_database(path: Path) -> None:
    """The database as the CA before migrations wrote it: SCHEMA only, user_version 0."""
    db = sqlite3.connect(path)
    db.executescript(SCHEMA)
    db.execute("INSERT INTO orders VALUES ('old', 'acct', 'valid', 1.0, '[\"a.star.test\"]', "
               "NULL, 'c1', 'https://ca.test', NULL, NULL, 0.0)")
    db.commit()
    db.close()


async def test_old_database_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    _old_database(path)
    store = open_sqlite(path)
    assert await store.db.fetchone("PRAGMA user_version") == (len(MIGRATIONS),)
    old = await store.order("old")
    assert old is not None and old.identifiers == ["a.star.test"]
    assert (old.profile, old.replaces, old.replaces_cert) == (None, None, None)
    await store.create_order(Order("new", "acct", "pending", 2.0, ["a.star.test"], None, None,
                                   "https://ca.test", None, None, "short", "AQ.AQ", "c1"),
                             [], [], 1.0)
    assert await store.use_nonce("n", 5.0) and not await store.use_nonce("n", 5.0)
    await store.close()
    reopened = open_sqlite(path)  # a second start finds nothing to migrate
    assert [o.id for o in await reopened.orders_replacing("c1")] == ["new"]
    new = await reopened.order("new")
    assert new is not None and (new.profile, new.replaces) == ("short", "AQ.AQ")


async def test_newer_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    await open_sqlite(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version={len(MIGRATIONS) + 1}")
    db.close()
    with pytest.raises(RuntimeError, match="newer"):
        open_sqlite(path)

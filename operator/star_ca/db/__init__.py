"""Durable state: the only thing that survives a restart or a ``kill -9``. SQLite (WAL) in the
data directory by default; PostgreSQL when ``--database-url`` names one, so that several
replicas share the work (star_ca.db.postgres)."""
from __future__ import annotations

from pathlib import Path

from star_ca.db.rows import Account, Authz, CertRow, Challenge, Order, Series
from star_ca.db.sqlite import SqliteDatabase
from star_ca.db.store import Store

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def open_sqlite(path: Path | str) -> Store:
    return Store(SqliteDatabase(path))


async def open_store(database_url: str | None, default_path: Path) -> Store:
    """The store ``database_url`` names (a ``postgresql://`` URL), or SQLite at
    ``default_path``. asyncpg is imported only for PostgreSQL: the embedded CA does not need
    it installed."""
    if database_url and database_url.startswith(POSTGRES_SCHEMES):
        from star_ca.db.postgres import PostgresDatabase
        return Store(await PostgresDatabase.connect(database_url))
    if database_url:
        raise ValueError("--database-url must be a postgresql:// URL (SQLite is the default, "
                         "in --data-dir)")
    return open_sqlite(default_path)


__all__ = ["Account", "Authz", "CertRow", "Challenge", "Order", "Series", "Store",
           "open_sqlite", "open_store"]

"""PostgreSQL, for several star-ca replicas on one database (asyncpg, one pool per replica).

Every replica answers every request: nothing a request needs is kept only in the process that
wrote it (nonces are checked against the database too, star_ca.wfe.nonces). Work that must
happen once (a STAR renewal, finishing an order a crash left in ``processing``) is claimed with
``FOR UPDATE SKIP LOCKED`` in the statement that takes it, never by a leader. The schema is
created and upgraded under an advisory lock, so replicas starting together do not race.
"""
from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import Any

import asyncpg

from star_ca.db.database import Row
from star_ca.db.schema import POSTGRES_ONLY, SCHEMA, for_postgres, pending_migration

SCHEMA_LOCK = 0x57A2CA  # pg_advisory_xact_lock key: one replica creates the schema at a time
_PLACEHOLDER = re.compile(r"\?")


@lru_cache(maxsize=512)
def to_postgres(sql: str) -> str:
    """``?`` placeholders, as the store writes them, to PostgreSQL's ``$1, $2, ...``."""
    counter = iter(range(1, 10_000))
    return _PLACEHOLDER.sub(lambda _: f"${next(counter)}", sql)


class PostgresTransaction:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, args: Iterable[Any] = ()) -> None:
        await self._conn.execute(to_postgres(sql), *args)

    async def executemany(self, sql: str, rows: Iterable[Iterable[Any]]) -> None:
        batch = [tuple(r) for r in rows]
        if batch:
            await self._conn.executemany(to_postgres(sql), batch)

    async def fetchall(self, sql: str, args: Iterable[Any] = ()) -> list[Row]:
        return list(await self._conn.fetch(to_postgres(sql), *args))


class PostgresDatabase:
    shared = True
    skip_locked = " FOR UPDATE SKIP LOCKED"
    for_update = " FOR UPDATE"

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @classmethod
    async def connect(cls, url: str, *, pool_size: int = 10) -> PostgresDatabase:
        """A pool on ``url`` (``postgresql://user:password@host:port/db``) with the schema in
        place. The URL carries a password: it is never logged (the error below names only the
        host)."""
        pool = await asyncpg.create_pool(url, min_size=1, max_size=pool_size)
        db = cls(pool)
        await db._create_schema()
        return db

    async def _create_schema(self) -> None:
        """SCHEMA and every pending migration (star_ca.db.schema), each step committed with
        its version, under an advisory lock so that one replica upgrades at a time."""
        while True:
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", SCHEMA_LOCK)
                await conn.execute("CREATE TABLE IF NOT EXISTS schema_version "
                                   "(version INTEGER NOT NULL)")
                version = await conn.fetchval("SELECT max(version) FROM schema_version")
                if version is None:
                    await conn.execute(for_postgres(SCHEMA))
                    for statement in POSTGRES_ONLY:
                        await conn.execute(statement)
                    await conn.execute("INSERT INTO schema_version VALUES (0)")
                    continue
                step = pending_migration(version)
                if step is None:
                    return
                for statement in step:
                    await conn.execute(for_postgres(statement))
                await conn.execute("UPDATE schema_version SET version=$1", version + 1)

    async def fetchone(self, sql: str, args: Iterable[Any] = ()) -> Row | None:
        row: Row | None = await self._pool.fetchrow(to_postgres(sql), *args)
        return row

    async def fetchall(self, sql: str, args: Iterable[Any] = ()) -> list[Row]:
        return list(await self._pool.fetch(to_postgres(sql), *args))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PostgresTransaction]:
        async with self._pool.acquire() as conn, conn.transaction():
            yield PostgresTransaction(conn)

    async def close(self) -> None:
        await self._pool.close()

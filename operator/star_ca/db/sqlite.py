"""The embedded database: one SQLite file (WAL) that only this process writes.

One connection, used from the event loop thread only: every statement is a few microseconds,
so handing them to a thread pool would cost more than it saves, and the coroutines below never
suspend, so a read followed by a write without another await in between sees no other
request's change. WAL with ``synchronous=NORMAL`` survives a ``kill -9`` of the CA at any point
(only an OS crash can lose the last commits)."""
from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

from star_ca.db.database import Row
from star_ca.db.schema import SCHEMA, pending_migration


class SqliteTransaction:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, args: Iterable[Any] = ()) -> None:
        self._conn.execute(sql, tuple(args))

    async def executemany(self, sql: str, rows: Iterable[Iterable[Any]]) -> None:
        self._conn.executemany(sql, (tuple(r) for r in rows))

    async def fetchall(self, sql: str, args: Iterable[Any] = ()) -> list[Row]:
        return self._conn.execute(sql, tuple(args)).fetchall()


class SqliteDatabase:
    shared = False
    skip_locked = for_update = ""

    def __init__(self, path: Path | str) -> None:
        self._conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA busy_timeout=5000")
        self._migrate()
        # Only this process writes the file: a lease on a series is a dead predecessor's.
        self._conn.execute("UPDATE star_series SET claimed_by=NULL, claimed_until=0 "
                           "WHERE claimed_by IS NOT NULL")

    def _migrate(self) -> None:
        """Bring the file to the current schema, one migration per transaction together with
        its ``PRAGMA user_version`` bump, so a crash mid-upgrade leaves the old version."""
        self._conn.executescript(SCHEMA)
        while True:
            with self._write() as conn:
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                step = pending_migration(version)
                if step is None:
                    return
                for statement in step:
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version={version + 1}")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One atomic write transaction (nesting is not supported, nor needed)."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    async def fetchone(self, sql: str, args: Iterable[Any] = ()) -> Row | None:
        row: Row | None = self._conn.execute(sql, tuple(args)).fetchone()
        return row

    async def fetchall(self, sql: str, args: Iterable[Any] = ()) -> list[Row]:
        return self._conn.execute(sql, tuple(args)).fetchall()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqliteTransaction]:
        with self._write() as conn:
            yield SqliteTransaction(conn)

    async def close(self) -> None:
        self._conn.close()

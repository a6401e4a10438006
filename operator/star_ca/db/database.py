"""What :class:`star_ca.db.store.Store` needs of a SQL database, so one set of statements
serves both SQLite (the embedded default) and PostgreSQL (several replicas on one database).

Statements are written once, in the dialect both accept (``?`` placeholders, ``INSERT ... ON
CONFLICT``, ``RETURNING``); an adapter translates what it must (PostgreSQL's ``$n``). The one
difference the store itself has to know is :attr:`Database.shared`: whether other processes
write the same database, which decides row locks (``FOR UPDATE [SKIP LOCKED]``) and how long an
in-process cache may trust what it read."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

Row = Sequence[Any]


class Transaction(Protocol):
    """Statements inside one atomic transaction."""

    async def execute(self, sql: str, args: Iterable[Any] = ()) -> None: ...

    async def executemany(self, sql: str, rows: Iterable[Iterable[Any]]) -> None: ...

    async def fetchall(self, sql: str, args: Iterable[Any] = ()) -> list[Row]: ...


class Database(Protocol):
    #: True when other processes (replicas) write this database too.
    shared: bool
    #: Appended to a SELECT of rows a replica is about to claim: PostgreSQL's ``FOR UPDATE
    #: SKIP LOCKED`` (a peer claiming them now keeps them); empty for SQLite, where a write
    #: transaction locks the whole file.
    skip_locked: str
    #: Appended to a SELECT of rows the transaction will change: ``FOR UPDATE``, or empty.
    for_update: str

    # Outside a transaction a statement commits on its own (SQLite's autocommit, PostgreSQL's
    # implicit transaction): a single INSERT ... RETURNING needs no transaction().
    async def fetchone(self, sql: str, args: Iterable[Any] = ()) -> Row | None: ...

    async def fetchall(self, sql: str, args: Iterable[Any] = ()) -> list[Row]: ...

    def transaction(self) -> AbstractAsyncContextManager[Transaction]: ...

    async def close(self) -> None: ...

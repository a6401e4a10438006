"""Registered ACME clients, one per key (a CsrTemplate, a StarIssuer), owned by the operator.

1,000 StarOrders on one template (or one StarIssuer) share one client: one nonce pool, one
connection pool, one newAccount. A client is kept under the fingerprint of the settings it was
made from (directory URL, account key, CA bundle, binding) and replaced when they change, and
only one registration per key runs at a time, so a burst of reconciles after a restart does not
send a burst of newAccount requests.

An instance belongs to one operator process (:class:`star_operator.context.OperatorContext`,
built at kopf startup and closed at cleanup), not to the module: two operators in one process
(the tests' KopfRunner threads) and a unit test each get their own.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from star_operator import acme

K = TypeVar("K", bound=Hashable)

#: Makes a client for the current settings (not yet registered).
Build = Callable[[], acme.AcmeClient]
#: Registers a freshly built client at its CA (newAccount); raises if the CA refuses.
Register = Callable[[acme.AcmeClient], Awaitable[object]]


def fingerprint(*parts: bytes) -> str:
    """A digest of the settings a client was made from; NUL-separated, so that moving bytes
    between adjacent parts changes it."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part + b"\0")
    return h.hexdigest()


@dataclasses.dataclass(frozen=True)
class _Entry:
    fingerprint: str
    client: acme.AcmeClient


class AccountClients(Generic[K]):
    """The registered client of each key, rebuilt when its settings' fingerprint changes."""

    def __init__(self) -> None:
        self._entries: dict[K, _Entry] = {}
        # Kept after forget(): dropping a lock someone holds would let a second registration
        # of the same key start; a lock per key ever seen is a few hundred bytes each.
        self._locks: dict[K, asyncio.Lock] = {}

    def _current(self, key: K, fp: str) -> acme.AcmeClient | None:
        entry = self._entries.get(key)
        if entry is not None and entry.fingerprint == fp and entry.client.account_url:
            return entry.client
        return None

    async def get(self, key: K, fp: str, build: Build, register: Register) -> acme.AcmeClient:
        """The registered client for ``key`` made from settings ``fp``.

        Reused while the fingerprint is the same; otherwise one caller builds and registers a
        new client while the others wait for it. The replaced client is closed only once its
        successor is registered, so a refused re-registration leaves :meth:`cached` usable (a
        StarIssuer's Order1s are canceled with it). A client whose registration fails is
        closed and the error raised.
        """
        client = self._current(key, fp)
        if client is not None:
            return client
        async with self._locks.setdefault(key, asyncio.Lock()):
            client = self._current(key, fp)
            if client is not None:
                return client
            client = build()
            try:
                await register(client)
            except BaseException:
                await client.close()
                raise
            old = self._entries.get(key)
            self._entries[key] = _Entry(fp, client)
        if old is not None:
            await old.client.close()
        return client

    def cached(self, key: K) -> acme.AcmeClient | None:
        """The last registered client of ``key``, whatever its settings are now."""
        entry = self._entries.get(key)
        return entry.client if entry is not None and entry.client.account_url else None

    async def forget(self, key: K) -> None:
        """Drop and close the client of a deleted object."""
        entry = self._entries.pop(key, None)
        if entry is not None:
            await entry.client.close()

    async def close_all(self) -> None:
        """Close every client (operator cleanup)."""
        for key in list(self._entries):
            await self.forget(key)

    def __len__(self) -> int:
        """How many clients are loaded (the liveness probe's account count)."""
        return len(self._entries)

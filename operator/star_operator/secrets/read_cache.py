"""A short-lived read cache of the Secrets a CsrTemplate names (account key, CA bundle, TSIG key).

Why: every StarOrder of a template reads the same three Secrets, so 1,000 StarOrders applied
together made 3,000 identical GETs (and more on retries), a sixth of the API requests of a new
order. The operator does not watch Secrets (a cluster's Secrets are the biggest objects it has;
cert-manager's informer on all of them is its memory problem), so the cache is bounded in time
instead: a value is served for ``ttl`` seconds after it was read, and dropped as soon as
something that used it failed (:meth:`forget`), so a rotated TSIG key or CA bundle is picked up
by the next attempt even within the TTL. Writes pass through and drop the entry. Reads of one
Secret that miss together share one GET: at the start of each period the StarOrders reconciled
at that moment (up to the issuance slots) all missed at once and each read it, half a GET per
new order at 300 StarOrders.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from star_operator.secrets.writer import SecretStore

#: How long a read is served. Long enough that a burst of StarOrders (1,000 applied at once
#: reach their reconciles at about 15 a second) shares one read per Secret per period; short
#: enough that an edited Secret (a DNO's new TSIG key or CA bundle) is what the next StarOrder
#: reconciled a moment later uses, as with a direct read.
DEFAULT_TTL = 2.0


class TtlSecretCache:
    """A :class:`~star_operator.secrets.writer.SecretStore` that remembers reads for ``ttl``
    seconds (absent Secrets too: a missing one is a condition the next attempt re-checks after
    the template's backoff anyway). ``clock`` is monotonic seconds (a fake in unit tests)."""

    def __init__(self, store: SecretStore, ttl: float = DEFAULT_TTL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store, self.ttl, self.clock = store, ttl, clock
        self._entries: dict[tuple[str, str], tuple[float, dict[str, Any] | None]] = {}
        #: Reads under way, which callers missing meanwhile await instead of reading again.
        self._reading: dict[tuple[str, str], asyncio.Future[dict[str, Any] | None]] = {}

    async def get_secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        key, now = (namespace, name), self.clock()
        hit = self._entries.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        reading = self._reading.get(key)
        if reading is None:
            reading = asyncio.ensure_future(self.store.get_secret(namespace, name))
            self._reading[key] = reading
            reading.add_done_callback(lambda done: self._read_done(key, done, now + self.ttl))
        # shielded: one caller cancelled (its reconcile timed out) leaves the others' read
        return await asyncio.shield(reading)

    def _read_done(self, key: tuple[str, str], done: asyncio.Future[dict[str, Any] | None],
                   until: float) -> None:
        """Keep a finished read, unless a write or :meth:`forget` came while it was under way
        (it may predate them) or it failed (the next caller reads again)."""
        if self._reading.get(key) is not done:
            return
        del self._reading[key]
        if not done.cancelled() and done.exception() is None:
            self._entries[key] = (until, done.result())

    def _drop(self, key: tuple[str, str]) -> None:
        self._entries.pop(key, None)
        self._reading.pop(key, None)

    async def create_secret(self, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]:
        self._drop((namespace, str(body["metadata"]["name"])))
        return await self.store.create_secret(namespace, body)

    async def replace_secret(self, namespace: str, name: str,
                             body: Mapping[str, Any]) -> dict[str, Any]:
        self._drop((namespace, name))
        return await self.store.replace_secret(namespace, name, body)

    def forget(self, refs: Iterable[tuple[str, str]]) -> None:
        """Drop these (namespace, name) entries: what was read from them just failed."""
        for ref in refs:
            self._drop(ref)

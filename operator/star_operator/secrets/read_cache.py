"""A short-lived read cache of the Secrets a CsrTemplate names (account key, CA bundle, TSIG key).

Why: every StarOrder of a template reads the same three Secrets, so 1,000 StarOrders applied
together made 3,000 identical GETs (and more on retries), a sixth of the API requests of a new
order. The operator does not watch Secrets (a cluster's Secrets are the biggest objects it has;
cert-manager's informer on all of them is its memory problem), so the cache is bounded in time
instead: a value is served for ``ttl`` seconds after it was read, and dropped as soon as
something that used it failed (:meth:`forget`), so a rotated TSIG key or CA bundle is picked up
by the next attempt even within the TTL. Writes pass through and drop the entry.
"""

from __future__ import annotations

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

    async def get_secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        key, now = (namespace, name), self.clock()
        hit = self._entries.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        secret = await self.store.get_secret(namespace, name)
        self._entries[key] = (now + self.ttl, secret)
        return secret

    async def create_secret(self, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]:
        self._entries.pop((namespace, str(body["metadata"]["name"])), None)
        return await self.store.create_secret(namespace, body)

    async def replace_secret(self, namespace: str, name: str,
                             body: Mapping[str, Any]) -> dict[str, Any]:
        self._entries.pop((namespace, name), None)
        return await self.store.replace_secret(namespace, name, body)

    def forget(self, refs: Iterable[tuple[str, str]]) -> None:
        """Drop these (namespace, name) entries: what was read from them just failed."""
        for ref in refs:
            self._entries.pop(ref, None)

"""A bounded map whose entries expire at a time given when they are stored (CAA answers,
parsed account keys).

Used for CAA answers (va.caa): a DNO's record may be relied on for as long as its TTL says
(RFC 8659 §3 leaves caching to the DNS; the CA/B Forum requirements allow CAA answers to be
reused within their TTL), so a renewal batch of thousands of names under one zone asks BIND
once per name and TTL instead of climbing to the apex for every name every time. The clock is
passed in so the expiry rules are unit-tested without waiting.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    def __init__(self, capacity: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._entries: dict[K, tuple[float, V]] = {}
        self._capacity = capacity
        self.clock = clock

    def get(self, key: K) -> tuple[V, float] | None:
        """The value and its expiry (on ``clock``) while it is fresh, else None."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, value = entry
        if self.clock() >= expires:
            del self._entries[key]
            return None
        return value, expires

    def put(self, key: K, value: V, expires: float) -> None:
        """Keep ``value`` until ``expires``; nothing is kept for an expiry already past. When
        full, the entry stored longest ago goes first (memory stays flat under any load)."""
        self._entries.pop(key, None)
        if expires <= self.clock():
            return
        if len(self._entries) >= self._capacity:
            del self._entries[next(iter(self._entries))]
        self._entries[key] = (expires, value)

    def __len__(self) -> int:
        return len(self._entries)

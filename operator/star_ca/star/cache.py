"""In-memory cache of star-certificate answers for unauthenticated GET/HEAD (RFC 8739 §3.4).

A CDN fleet polls the star-certificate URL; the answer (chain, ``Cert-Not-*`` headers) can only
change when the next certificate is published (its notBefore), at ``end-date``, or when the
series stops (cancellation, a refused CAA re-check). The first two are known in advance and
bound each entry's lifetime; the last happens in this process (order update handler, scheduler)
and calls ``invalidate`` in the same event-loop step as its database commit, so no request can
see a stale answer. Only successful answers are cached; errors always go to the database. This
takes three SQLite reads and the window arithmetic off the hot path.
"""
from __future__ import annotations

from dataclasses import dataclass

MAX_ENTRIES = 100_000


@dataclass(frozen=True)
class StarAnswer:
    body: bytes
    headers: dict[str, str]  # everything but Cache-Control, which depends on the time
    fresh_until: float  # next publication (or the last certificate's notAfter): max-age
    valid_until: float  # min(fresh_until, end-date): after this, ask the database again


class StarCache:
    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._entries: dict[str, StarAnswer] = {}
        self._max = max_entries

    def get(self, token: str, now: float) -> StarAnswer | None:
        answer = self._entries.get(token)
        if answer is None:
            return None
        if now >= answer.valid_until:
            del self._entries[token]
            return None
        return answer

    def put(self, token: str, answer: StarAnswer, now: float) -> None:
        if now >= answer.valid_until:
            return
        if len(self._entries) >= self._max:
            self._entries.clear()  # crude but bounded; refilled on the next GETs
        self._entries[token] = answer

    def invalidate(self, token: str | None) -> None:
        if token is not None:
            self._entries.pop(token, None)

"""In-memory cache of star-certificate answers for unauthenticated GET/HEAD (RFC 8739 §3.4).

A CDN fleet polls the star-certificate URL; the answer (chain, ``Cert-Not-*`` headers) can only
change when the next certificate is published (its notBefore), at ``end-date``, or when the
series stops (cancellation, a refused CAA re-check). The first two are known in advance and
bound each entry's lifetime; the last happens in this process (order update handler, scheduler)
and calls ``invalidate`` in the same event-loop step as its database commit, so no request can
see a stale answer. Replicas sharing a database do not see each other's cancellations, so
there an entry is trusted for ``trust_for`` seconds at most (one second in star_ca.server).
Only successful answers are cached; errors always go to the database. This takes three
database reads and the window arithmetic off the hot path.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

MAX_ENTRIES = 100_000


@dataclass(frozen=True)
class StarAnswer:
    body: bytes
    headers: dict[str, str]  # everything but Cache-Control, which depends on the time
    fresh_until: float  # next publication (or the last certificate's notAfter): max-age
    valid_until: float  # min(fresh_until, end-date): after this, ask the database again


class StarCache:
    def __init__(self, max_entries: int = MAX_ENTRIES, trust_for: float | None = None) -> None:
        self._entries: dict[str, StarAnswer] = {}
        self._max = max_entries
        self._trust_for = trust_for

    def get(self, token: str, now: float) -> StarAnswer | None:
        answer = self._entries.get(token)
        if answer is None:
            return None
        if now >= answer.valid_until:
            del self._entries[token]
            return None
        return answer

    def put(self, token: str, answer: StarAnswer, now: float) -> None:
        if self._trust_for is not None:
            answer = replace(answer, valid_until=min(answer.valid_until, now + self._trust_for))
        if now >= answer.valid_until:
            return
        if len(self._entries) >= self._max:
            self._entries.clear()  # crude but bounded; refilled on the next GETs
        self._entries[token] = answer

    def invalidate(self, token: str | None) -> None:
        if token is not None:
            self._entries.pop(token, None)

"""Posting Kubernetes Events without tying domain code to kopf."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import kopf

EventPoster = Callable[[str, str, str], None]


def poster(body: Mapping[str, Any]) -> EventPoster:
    """A ``post(type, reason, message)`` callable for one object (kopf batches the API calls)."""

    def post(type_: str, reason: str, message: str) -> None:
        kopf.event(body, type=type_, reason=reason, message=message[:1024])  # type: ignore[arg-type]

    return post


#: client-go's core/v1 event aggregation window (``defaultAggregateIntervalInSeconds``).
AGGREGATION_WINDOW = 600.0


class Throttle:
    """At most one Event per ``window`` seconds for one recurring occurrence of one object; the
    occurrences held back are counted into the next Event.

    Why: a StarCertificate with a one-minute lifetime rotates 60 times an hour, and an Event
    per rotation was one of a renewal's five API requests (plus etcd space, an Event lives an
    hour). Like client-go's aggregation, the first occurrence is posted at once and later ones
    within the window are folded; unlike it, nothing is written for the folded ones (client-go
    PATCHes a count each time), because the object's status already counts every occurrence.
    ``clock`` is seconds (the loop's clock in unit tests).
    """

    def __init__(self, window: float = AGGREGATION_WINDOW,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.window, self.clock = window, clock
        self._last: float | None = None
        self._held = 0

    def occurred(self) -> int:
        """Count one occurrence: how many the Event to post now reports (this one and those
        held back since the last), or 0 when this one is held back."""
        now = self.clock()
        self._held += 1
        if self._last is not None and now - self._last < self.window:
            return 0
        self._last, count, self._held = now, self._held, 0
        return count

    def reported_elsewhere(self) -> None:
        """An occurrence another Event stands for (a first certificate, in the owning
        StarOrder's ``Issued`` Event): the window starts as if it had been posted here."""
        self._last, self._held = self.clock(), 0

"""Fetch timing for STAR certificates (RFC 8739 §3.3, §3.4, §4.3).

Why this shape:
- The CA must publish the next certificate by the halfway point of the current one, so without
  other information that is when to fetch.
- A CA that sets HTTP freshness (``fresh_until``, from Cache-Control max-age) tells us when it
  publishes; fetching right then keeps renewal lag low.
- Many StarCertificates ordered together would fetch in the same instant; a small random delay,
  bounded both absolutely and by a share of the lifetime, spreads them out (cert-manager #8402).
- Errors back off by the operator's one policy (:mod:`star_operator.backoff`), scaled to the
  certificate's lifetime.
"""

from __future__ import annotations

import dataclasses
import datetime
import random

from star_operator.backoff import Backoff, Rng
from star_operator.config import Config

_EPS = datetime.timedelta(microseconds=1)


@dataclasses.dataclass(frozen=True)
class Timing:
    """Knobs, normally from :class:`star_operator.config.Config`, whose defaults they share."""

    jitter_max: float = Config.fetch_jitter_max
    jitter_fraction: float = Config.fetch_jitter_fraction
    poll_min: float = Config.poll_min
    poll_max: float = Config.poll_max
    backoff_min: float = Config.backoff_min
    backoff_max: float = Config.backoff_max

    @classmethod
    def from_config(cls, cfg: Config) -> Timing:
        return cls(jitter_max=cfg.fetch_jitter_max, jitter_fraction=cfg.fetch_jitter_fraction,
                   poll_min=cfg.poll_min, poll_max=cfg.poll_max,
                   backoff_min=cfg.backoff_min, backoff_max=cfg.backoff_max)

    @property
    def backoff(self) -> Backoff:
        """The error backoff in these bounds (scale it with :meth:`Backoff.for_lifetime`)."""
        return Backoff(first=self.backoff_min, cap=self.backoff_max)


@dataclasses.dataclass(frozen=True)
class Fetched:
    """What the last successful fetch told us."""

    not_before: datetime.datetime
    not_after: datetime.datetime
    fresh_until: datetime.datetime | None = None

    @property
    def lifetime(self) -> datetime.timedelta:
        return max(self.not_after - self.not_before, _EPS)


def _seconds(td: datetime.timedelta) -> float:
    return td.total_seconds()


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


def jitter(lifetime: datetime.timedelta, timing: Timing, rng: Rng | None = None) -> float:
    """A random delay in [0, min(jitter_max, jitter_fraction * lifetime)] seconds."""
    bound = min(timing.jitter_max, timing.jitter_fraction * _seconds(lifetime))
    return (rng or random).uniform(0.0, max(bound, 0.0))


def poll_interval(lifetime: datetime.timedelta, timing: Timing) -> float:
    """How soon to ask again when the CA has not published yet: 1/20 of a lifetime, clamped."""
    return _clamp(_seconds(lifetime) / 20.0, timing.poll_min, timing.poll_max)


def next_fetch(now: datetime.datetime, fetched: Fetched, *, changed: bool,
               end_date: datetime.datetime | None = None, timing: Timing = Timing(),
               rng: Rng | None = None, unchanged: int = 1) -> datetime.datetime | None:
    """When to fetch again after a successful fetch; None when no further certificate can come.

    ``changed`` says whether that fetch brought a new certificate. If it did not, the CA is late
    relative to its own hints, so we poll at :func:`poll_interval` instead of waiting a half-life.
    ``unchanged`` counts the fetches in a row (this one included) that brought the same one.
    """
    if end_date is not None and fetched.not_after >= end_date:
        return None  # the last certificate of the series: RFC 8739 §3.5 caps notAfter at end-date
    lifetime = fetched.lifetime
    poll = datetime.timedelta(seconds=poll_interval(lifetime, timing))
    if fetched.fresh_until is not None and fetched.fresh_until > now:
        base = fetched.fresh_until  # the CA told us when it publishes next
    elif not changed and fetched.fresh_until is not None:
        # The CA says the next certificate is due now: max-age counts whole seconds, rounded
        # down, so the fetch at fresh_until lands up to a second early (or the CA is a little
        # late). Ask again shortly, backing off to the usual poll interval, and without new
        # jitter: the first fetch was already spread, and lag is what this is about.
        quick = timing.poll_min * 2 ** min(max(unchanged, 1) - 1, 30)
        return now + min(poll, datetime.timedelta(seconds=quick))
    elif not changed:
        base = now + poll  # the CA is behind its own hints: ask again soon
    else:
        base = fetched.not_before + lifetime / 2
        if base <= now:
            base = now + datetime.timedelta(seconds=timing.poll_min)
    # Never plan past the point where the current certificate is nearly dead.
    latest = fetched.not_after - min(poll, lifetime / 10)
    base = max(now, min(base, latest))
    return base + datetime.timedelta(seconds=jitter(lifetime, timing, rng))


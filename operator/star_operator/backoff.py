"""The operator's one retry backoff: exponential from a first delay, capped, with random extra.

Why one type: template and issuer reconciles, issuance, cancellation at the CA, StarCertificate
fetches, emulated-series renewals and ACME polling all wait after a failure. Written five ways
they drifted (0- or 1-based attempts, caps applied before or after the floor, jitter on some);
one policy keeps them comparable and unit-tested in one place.

Why jitter: an error shared by many objects (a CA restart) would otherwise have all of them retry
in the same instant, again and again. Why a lifetime scale (:meth:`Backoff.for_lifetime`): a
1-hour backoff is useless for a 10-second certificate (cert-manager #1122, #4786), and a
1-second backoff hammers the CA for week-long ones.
"""

from __future__ import annotations

import dataclasses
import datetime
import random
from typing import Protocol

from star_operator.config import Config

#: Share of random extra added to every operator retry delay (0.1: up to 10 % longer).
SPREAD = 0.1


class Rng(Protocol):
    """The part of :class:`random.Random` we use (injectable for tests)."""

    def uniform(self, a: float, b: float) -> float: ...


@dataclasses.dataclass(frozen=True)
class Backoff:
    """``first * 2**(failures - 1)`` seconds, at most ``cap``, then up to ``spread`` more."""

    first: float = Config.backoff_min
    cap: float = Config.backoff_max
    spread: float = SPREAD

    @classmethod
    def from_config(cls, cfg: Config) -> Backoff:
        """The operator's bounds (``STAR_OPERATOR_BACKOFF_MIN`` / ``_MAX``)."""
        return cls(first=cfg.backoff_min, cap=cfg.backoff_max)

    def capped(self, cap: float) -> Backoff:
        """The same policy with a lower cap (cancellation while deleting: a user is waiting)."""
        return dataclasses.replace(self, cap=max(min(self.cap, cap), 0.0))

    def for_lifetime(self, lifetime: datetime.timedelta | None) -> Backoff:
        """Scaled to a certificate's lifetime: first 1/100 of it, cap a quarter of it (never
        below ``first`` nor above ``cap``); unchanged when nothing is issued yet."""
        if not lifetime:
            return self
        life = lifetime.total_seconds()
        return dataclasses.replace(self, first=max(self.first, life / 100.0),
                                   cap=max(self.first, min(self.cap, life / 4.0)))

    def delay(self, failures: int, rng: Rng | None = None) -> float:
        """Seconds to wait after the ``failures``-th consecutive failure (1-based; less is 1)."""
        exponent = min(max(failures, 1) - 1, 60)  # 2**60 s is past any cap; no float overflow
        base = min(self.cap, self.first * 2.0 ** exponent)
        if self.spread <= 0:
            return base
        return base * (1.0 + (rng or random).uniform(0.0, self.spread))

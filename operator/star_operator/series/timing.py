"""When the next certificate of an emulated series is ordered (pure, clock and RNG passed in).

Why this shape:
- A CA with ARI (RFC 9773) says when it wants a certificate replaced; a random moment inside
  its window is what the RFC asks of clients, so a CA's fleet does not renew in one instant.
- Without ARI, a fixed share of the lifetime (two thirds, as certbot and cert-manager do) with a
  spread of a tenth of the lifetime: 1,000 StarOrders ordered together renew over a tenth of a
  lifetime, not in one second, and each still has a third of its lifetime left as slack.
- No certificate is ordered whose validity would start at or after the end-date: the series
  ends with the certificate that is current then.
- ``Retry-After`` on ARI is honoured but clamped: a CA saying "ask again in a week" about a
  6-hour certificate, or "every second", must not decide the operator's load or blindness.
"""

from __future__ import annotations

import dataclasses
import datetime
import random

from star_operator.config import Config
from star_operator.backoff import Rng
from star_operator.constants import RenewBasis

ARI, FRACTION = RenewBasis.ARI, RenewBasis.FRACTION


@dataclasses.dataclass(frozen=True)
class SeriesTiming:
    """Knobs of the emulated series' renewal moment."""

    fraction: float = Config.series_fraction
    spread: float = Config.series_spread
    retry_after_min: float = Config.ari_recheck_min
    retry_after_max: float = Config.ari_recheck_max

    @classmethod
    def from_config(cls, cfg: Config) -> SeriesTiming:
        return cls(fraction=cfg.series_fraction, spread=cfg.series_spread,
                   retry_after_min=cfg.ari_recheck_min, retry_after_max=cfg.ari_recheck_max)


@dataclasses.dataclass(frozen=True)
class Window:
    """A renewal window (ARI ``suggestedWindow``)."""

    start: datetime.datetime
    end: datetime.datetime


@dataclasses.dataclass(frozen=True)
class Plan:
    """The chosen moment (None: no further certificate) and what it was based on."""

    renew_at: datetime.datetime | None
    basis: str


def renewal_moment(not_before: datetime.datetime, not_after: datetime.datetime, *,
                   now: datetime.datetime, window: Window | None = None,
                   end_date: datetime.datetime | None = None,
                   timing: SeriesTiming = SeriesTiming(), rng: Rng | None = None) -> Plan:
    """When to order the successor of the certificate valid ``not_before``..``not_after``."""
    rng = rng or random
    if window is not None:
        basis = ARI
        if window.end <= now:
            moment = now  # the CA wants it replaced already (revoked, or we are late)
        else:
            start = max(window.start, now)
            moment = start + (window.end - start) * rng.uniform(0.0, 1.0)
    else:
        basis = FRACTION
        half = timing.spread / 2
        share = rng.uniform(timing.fraction - half, timing.fraction + half)
        moment = max(now, not_before + (not_after - not_before) * share)
    if end_date is not None and (moment >= end_date or not_after >= end_date):
        return Plan(None, basis)
    return Plan(moment, basis)


def ari_recheck(now: datetime.datetime, retry_after: float | None,
                lifetime: datetime.timedelta, timing: SeriesTiming = SeriesTiming()
                ) -> datetime.datetime:
    """When to ask the CA for the window again: its ``Retry-After``, clamped.

    The floor scales down with short lifetimes (a tenth of one), so seconds-long test
    certificates still see a revocation within their life.
    """
    life = max(lifetime.total_seconds(), 1.0)
    low = min(timing.retry_after_min, life / 10)
    high = max(low, min(timing.retry_after_max, life / 2))
    wanted = retry_after if retry_after is not None else high
    return now + datetime.timedelta(seconds=max(low, min(high, wanted)))


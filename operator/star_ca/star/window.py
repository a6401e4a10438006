"""RFC 8739 §3.5 certificate windows, as pure integer arithmetic (seconds since the epoch).

Nominal renewal dates are ``nrd[i] = first_nrd + i * T`` (T = lifetime) while ``nrd[i] < end``;
certificate i is valid from ``nrd[i] - max(min(T, la), f * T)`` (never before ``start``) to
``min(nrd[i] + T, end)``. With the server padding ``f >= 0.5`` the notBefore of certificate
i+1 lies at or before the halfway point of certificate i's nominal lifetime
``[nrd[i], nrd[i] + T]``; the CA publishes each certificate exactly at its notBefore, so the
next certificate is always available by that halfway point and is already valid when published
(§3.4). The padding is rounded up to whole seconds so this holds for odd lifetimes too.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

DEFAULT_PADDING_FACTOR = 0.5


@dataclass(frozen=True)
class Window:
    seq: int
    nominal: int
    not_before: int
    not_after: int


@dataclass(frozen=True)
class SeriesParams:
    """What fixes every window of one STAR order."""

    first_nrd: int
    start: int
    end: int
    lifetime: int
    lifetime_adjust: int = 0
    padding_factor: float = DEFAULT_PADDING_FACTOR

    @property
    def padding(self) -> int:
        t = self.lifetime
        return max(min(t, self.lifetime_adjust), math.ceil(self.padding_factor * t))


def window(p: SeriesParams, seq: int) -> Window | None:
    """Certificate ``seq`` of the series, or None past the end of the series."""
    if seq < 0:
        return None
    nrd = p.first_nrd + seq * p.lifetime
    if nrd >= p.end:
        return None
    return Window(seq, nrd, max(nrd - p.padding, p.start), min(nrd + p.lifetime, p.end))


def windows(p: SeriesParams) -> list[Window]:
    """Every window of the series (for tests and small series; the scheduler walks lazily)."""
    out: list[Window] = []
    while (w := window(p, len(out))) is not None:
        out.append(w)
    return out


def current_seq(p: SeriesParams, now: float) -> int | None:
    """The newest certificate whose notBefore has passed (what the URL serves), or None."""
    if now < p.start or window(p, 0) is None:
        return None
    # notBefore of seq i >= 1 is first_nrd + i*T - padding; solve for the largest i <= now.
    i = max(0, math.floor((now - p.first_nrd + p.padding) / p.lifetime))
    while i > 0 and window(p, i) is None:
        i -= 1
    while i > 0 and (w := window(p, i)) is not None and w.not_before > now:
        i -= 1
    return i

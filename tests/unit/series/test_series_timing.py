"""When an emulated series orders its next certificate: ARI window, lifetime fraction, end-date."""
from __future__ import annotations

import collections
import datetime
import random

import pytest

from star_operator.config import ConfigurationError, Config
from star_operator.series.timing import (ARI, FRACTION, SeriesTiming, Window, ari_recheck,
                                         renewal_moment)

T0 = datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)


def s(seconds: float) -> datetime.timedelta:
    return datetime.timedelta(seconds=seconds)


class Fixed:
    """An Rng whose draws are a fixed share of the interval."""

    def __init__(self, share: float) -> None:
        self.share = share

    def uniform(self, a: float, b: float) -> float:
        return a + (b - a) * self.share


def test_without_ari_two_thirds_of_the_lifetime_at_the_middle_of_the_spread() -> None:
    plan = renewal_moment(T0, T0 + s(300), now=T0, rng=Fixed(0.5))
    assert plan == type(plan)(T0 + s(200), FRACTION)


def test_without_ari_the_spread_is_a_tenth_of_the_lifetime() -> None:
    early = renewal_moment(T0, T0 + s(300), now=T0, rng=Fixed(0.0)).renew_at
    late = renewal_moment(T0, T0 + s(300), now=T0, rng=Fixed(1.0)).renew_at
    assert (early, late) == (T0 + s(185), T0 + s(215))


def test_a_thousand_orders_do_not_renew_in_the_same_second() -> None:
    rng = random.Random(7)
    per_second = collections.Counter(
        renewal_moment(T0, T0 + s(6 * 3600), now=T0, rng=rng).renew_at.replace(microsecond=0)
        for _ in range(1000))
    # spread over 36 minutes of a 6-hour lifetime: about one every two seconds
    assert max(per_second.values()) <= 6
    assert max(per_second) - min(per_second) > s(0.9 * 2160)


def test_ari_moment_is_inside_the_window() -> None:
    window = Window(T0 + s(100), T0 + s(200))
    for share in (0.0, 0.3, 1.0):
        plan = renewal_moment(T0, T0 + s(300), now=T0, window=window, rng=Fixed(share))
        assert plan.basis == ARI
        assert plan.renew_at == T0 + s(100 + 100 * share)


def test_ari_window_already_open_draws_from_now_on() -> None:
    window = Window(T0 + s(100), T0 + s(200))
    plan = renewal_moment(T0, T0 + s(300), now=T0 + s(150), window=window, rng=Fixed(0.0))
    assert plan.renew_at == T0 + s(150)


def test_ari_window_in_the_past_means_now() -> None:
    """A CA that revoked the certificate puts the window in the past: renew at once."""
    window = Window(T0 - s(10), T0 - s(5))
    plan = renewal_moment(T0 - s(100), T0 + s(300), now=T0, window=window, rng=Fixed(0.9))
    assert plan.renew_at == T0


def test_no_certificate_is_ordered_at_or_after_the_end_date() -> None:
    plan = renewal_moment(T0, T0 + s(300), now=T0, end_date=T0 + s(200), rng=Fixed(0.5))
    assert plan.renew_at is None


def test_a_certificate_that_covers_the_end_date_is_the_last() -> None:
    plan = renewal_moment(T0, T0 + s(300), now=T0, end_date=T0 + s(250), rng=Fixed(0.0))
    assert plan.renew_at is None


def test_before_the_end_date_a_successor_is_planned() -> None:
    plan = renewal_moment(T0, T0 + s(300), now=T0, end_date=T0 + s(900), rng=Fixed(0.5))
    assert plan.renew_at == T0 + s(200)


@pytest.mark.parametrize("retry_after, expected", [
    (30.0, 60.0),         # below the floor
    (3600.0, 3600.0),     # honoured
    (10 * 86400.0, 86400.0 * 0.5 * 2),  # above: capped (by half the 2-day lifetime here)
    (None, 86400.0),      # none given: the cap
])
def test_ari_retry_after_is_clamped(retry_after: float | None, expected: float) -> None:
    got = ari_recheck(T0, retry_after, s(2 * 86400))
    assert (got - T0).total_seconds() == pytest.approx(min(expected, 86400.0))


def test_ari_recheck_scales_down_for_seconds_long_certificates() -> None:
    assert ari_recheck(T0, 0.5, s(20)) - T0 == s(2)   # floor: a tenth of the lifetime
    assert ari_recheck(T0, 3600, s(20)) - T0 == s(10)  # cap: half of it


def test_timing_comes_from_config() -> None:
    cfg = Config(series_fraction=0.5, series_spread=0.2, ari_recheck_min=5, ari_recheck_max=50)
    assert SeriesTiming.from_config(cfg) == SeriesTiming(0.5, 0.2, 5, 50)


@pytest.mark.parametrize("fraction, spread", [(0.0, 0.1), (1.0, 0.1), (0.9, 0.3)])
def test_config_refuses_a_moment_outside_the_lifetime(fraction: float, spread: float) -> None:
    with pytest.raises(ConfigurationError, match="SERIES_FRACTION"):
        Config(series_fraction=fraction, series_spread=spread).validate()

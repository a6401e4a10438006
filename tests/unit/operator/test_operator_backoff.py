"""The one retry backoff: exponential, capped, jittered, lifetime-scaled, from Config."""

from __future__ import annotations

import datetime
import random

from star_operator.backoff import Backoff
from star_operator.config import Config
from star_operator.renewal.schedule import Timing


class NoRng:
    def uniform(self, a: float, b: float) -> float:
        return a


class MaxRng:
    def uniform(self, a: float, b: float) -> float:
        return b


def s(seconds: float) -> datetime.timedelta:
    return datetime.timedelta(seconds=seconds)


def test_doubles_from_first_up_to_cap_counting_failures_from_one() -> None:
    policy = Backoff(first=0.5, cap=5.0, spread=0.0)
    assert [policy.delay(n) for n in range(0, 7)] == [0.5, 0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    assert policy.delay(10_000) == 5.0  # no overflow on a long outage


def test_jitter_adds_at_most_the_spread_and_actually_spreads() -> None:
    policy = Backoff(first=4.0, cap=100.0, spread=0.1)
    assert policy.delay(1, NoRng()) == 4.0
    assert policy.delay(1, MaxRng()) == 4.0 * 1.1
    rng = random.Random(7)
    draws = {policy.delay(2, rng) for _ in range(50)}
    assert all(8.0 <= d <= 8.8 for d in draws) and len(draws) > 40


def test_from_config_and_a_lower_cap_for_cancellation() -> None:
    cfg = Config(backoff_min=0.5, backoff_max=5.0, delete_backoff_max=2.0)
    policy = Backoff.from_config(cfg)
    assert (policy.first, policy.cap) == (0.5, 5.0)
    capped = policy.capped(cfg.delete_backoff_max)
    assert [capped.delay(n, NoRng()) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 2.0]
    assert policy.capped(50.0).cap == 5.0  # a cap only ever lowers


def test_scales_with_lifetime() -> None:
    policy = Timing(backoff_min=1.0, backoff_max=600.0).backoff
    short = policy.for_lifetime(s(10))
    assert [short.delay(n, NoRng()) for n in range(1, 6)] == [1.0, 2.0, 2.5, 2.5, 2.5]
    week = policy.for_lifetime(s(7 * 86400))
    assert [week.delay(n, NoRng()) for n in (1, 2, 10)] == [600.0, 600.0, 600.0]
    assert policy.for_lifetime(s(6000)).delay(1, NoRng()) == 60.0
    assert policy.for_lifetime(None).delay(3, NoRng()) == 4.0  # nothing issued yet

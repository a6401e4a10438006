"""Fetch timing: follow the CA's hints, poll when it is late, jitter and back off in scale."""
from __future__ import annotations

import datetime
import random

from star_operator.renewal.schedule import Fetched, Timing, jitter, next_fetch

T0 = datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)
NO_JITTER = Timing(jitter_max=0.0)


def s(seconds: float) -> datetime.timedelta:
    return datetime.timedelta(seconds=seconds)


def test_fresh_until_wins_when_in_the_future() -> None:
    f = Fetched(T0, T0 + s(100), fresh_until=T0 + s(30))
    assert next_fetch(T0 + s(1), f, changed=True, timing=NO_JITTER) == T0 + s(30)


def test_halfway_point_without_freshness() -> None:
    f = Fetched(T0, T0 + s(100))
    assert next_fetch(T0 + s(1), f, changed=True, timing=NO_JITTER) == T0 + s(50)


def test_same_certificate_again_polls_at_a_twentieth_of_the_lifetime() -> None:
    f = Fetched(T0, T0 + s(100))
    assert next_fetch(T0 + s(60), f, changed=False, timing=NO_JITTER) == T0 + s(65)


def test_ca_due_now_but_same_certificate_repolls_quickly_then_backs_off() -> None:
    # max-age is whole seconds rounded down: the fetch at fresh_until can be up to 1 s early
    f = Fetched(T0, T0 + s(100), fresh_until=T0 + s(59.5))
    timing = Timing(jitter_max=5.0, poll_min=0.5)  # no jitter on these re-polls
    now = T0 + s(60)
    delays = [next_fetch(now, f, changed=False, timing=timing, unchanged=n) - now
              for n in (1, 2, 3, 4, 5)]
    assert delays == [s(0.5), s(1), s(2), s(4), s(5)]  # then the usual lifetime/20


def test_poll_interval_is_clamped() -> None:
    tiny = Fetched(T0, T0 + s(2))
    assert next_fetch(T0 + s(1.5), tiny, changed=False,
                      timing=Timing(jitter_max=0, poll_min=0.5)) <= T0 + s(2)
    week = Fetched(T0, T0 + s(7 * 86400))
    due = next_fetch(T0 + s(4 * 86400), week, changed=False,
                     timing=Timing(jitter_max=0, poll_max=300))
    assert due == T0 + s(4 * 86400 + 300)


def test_past_halfway_after_a_new_certificate_fetches_soon() -> None:
    f = Fetched(T0 - s(80), T0 + s(20))
    due = next_fetch(T0, f, changed=True, timing=Timing(jitter_max=0, poll_min=0.5))
    assert T0 < due <= T0 + s(1)


def test_never_scheduled_after_expiry() -> None:
    f = Fetched(T0, T0 + s(100), fresh_until=T0 + s(500))
    assert next_fetch(T0 + s(1), f, changed=True, timing=NO_JITTER) < T0 + s(100)


def test_last_certificate_of_the_series_stops_polling() -> None:
    f = Fetched(T0, T0 + s(100))
    assert next_fetch(T0, f, changed=True, end_date=T0 + s(100)) is None
    assert next_fetch(T0, f, changed=True, end_date=T0 + s(101)) is not None


def test_jitter_is_bounded_absolutely_and_by_lifetime() -> None:
    rng = random.Random(1)
    timing = Timing(jitter_max=1.0, jitter_fraction=0.02)
    assert all(0 <= jitter(s(10), timing, rng) <= 0.2 for _ in range(200))
    assert all(0 <= jitter(s(86400), timing, rng) <= 1.0 for _ in range(200))
    values = {round(jitter(s(86400), timing, rng), 3) for _ in range(50)}
    assert len(values) > 40  # actually spread, not constant


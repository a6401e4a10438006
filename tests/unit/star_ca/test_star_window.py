"""RFC 8739 §3.5 arithmetic, checked against the RFC's own worked example."""
from __future__ import annotations

import calendar
import time

from star_ca.star.window import SeriesParams, current_seq, window, windows

DAY = 86400


def ts(date: str) -> int:
    return calendar.timegm(time.strptime(date, "%Y-%m-%d"))


def test_rfc_example() -> None:
    p = SeriesParams(first_nrd=ts("2019-01-10"), start=ts("2019-01-10"), end=ts("2019-01-20"),
                     lifetime=4 * DAY, lifetime_adjust=3 * DAY, padding_factor=0.5)
    got = [(w.not_before, w.not_after) for w in windows(p)]
    assert got == [(ts("2019-01-10"), ts("2019-01-14")), (ts("2019-01-11"), ts("2019-01-18")),
                   (ts("2019-01-15"), ts("2019-01-20"))]


def test_next_published_by_nominal_halfway_and_already_valid() -> None:
    for lifetime in (2, 3, 5, 7, 3600):  # 1 s is degenerate: padding = the whole lifetime
        p = SeriesParams(first_nrd=1000, start=1000, end=1000 + 20 * lifetime,
                         lifetime=lifetime)
        ws = windows(p)
        assert len(ws) == 20
        for prev, nxt in zip(ws, ws[1:]):
            assert nxt.not_before <= prev.nominal + lifetime / 2
            assert nxt.not_before > prev.not_before
            assert nxt.not_before < prev.not_after  # overlap: no gap in coverage
        assert all(w.not_after <= p.end for w in ws)


def test_end_date_caps_last_certificate() -> None:
    p = SeriesParams(first_nrd=0, start=0, end=10, lifetime=4)
    assert [(w.not_before, w.not_after) for w in windows(p)] == [(0, 4), (2, 8), (6, 10)]
    assert window(p, 3) is None


def test_start_date_bounds_first_certificate() -> None:
    p = SeriesParams(first_nrd=100, start=100, end=1000, lifetime=50, lifetime_adjust=40)
    assert window(p, 0).not_before == 100  # type: ignore[union-attr]
    assert window(p, 1).not_before == 110  # type: ignore[union-attr]


def test_current_seq() -> None:
    p = SeriesParams(first_nrd=0, start=0, end=10, lifetime=4)
    assert current_seq(p, -1) is None
    assert [current_seq(p, t) for t in (0, 1.9, 2, 5.9, 6, 9.9, 50)] == [0, 0, 1, 1, 2, 2, 2]

"""The one RFC 3339 helper: UTC 'Z' out, aware datetimes in, naive refused both ways."""

from __future__ import annotations

import datetime

import pytest

from star_operator import timeutil
from star_operator.acme.models import AutoRenewal

UTC = datetime.timezone.utc
T = datetime.datetime(2030, 1, 2, 3, 4, 5, 678, tzinfo=UTC)


def test_format_is_utc_z_in_whole_seconds_whatever_the_offset() -> None:
    plus2 = T.astimezone(datetime.timezone(datetime.timedelta(hours=2)))
    assert timeutil.format_time(plus2) == timeutil.format_time(T) == "2030-01-02T03:04:05Z"


def test_naive_datetime_is_refused_not_read_as_local_time() -> None:
    with pytest.raises(ValueError, match="no timezone"):
        timeutil.format_time(datetime.datetime(2030, 1, 2, 3, 4, 5))


def test_parse_gives_aware_datetimes_and_refuses_a_stamp_without_offset() -> None:
    assert timeutil.parse_time("2030-01-02T05:04:05+02:00") == T.replace(microsecond=0)
    assert timeutil.parse_time("2030-01-02T03:04:05.5z") == T.replace(microsecond=500000)
    with pytest.raises(ValueError, match="no UTC offset"):
        timeutil.parse_time("2030-01-02T03:04:05")
    with pytest.raises(ValueError):
        timeutil.parse_time("next tuesday")


def test_lenient_parse_for_a_peers_json() -> None:
    assert timeutil.parse_time_or_none("2030-01-02T03:04:05Z") == T.replace(microsecond=0)
    for odd in (None, 17, "", "2030-01-02T03:04:05", "soon"):
        assert timeutil.parse_time_or_none(odd) is None


def test_acme_end_date_goes_through_the_same_helper() -> None:
    doc = AutoRenewal(end_date=T, lifetime=3600).to_json()
    assert doc["end-date"] == "2030-01-02T03:04:05Z"
    with pytest.raises(ValueError, match="no timezone"):
        AutoRenewal(end_date=T.replace(tzinfo=None), lifetime=3600).to_json()

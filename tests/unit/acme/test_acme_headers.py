"""HTTP header parsing that drives STAR timing: dates, Retry-After, cache freshness."""

from datetime import datetime, timedelta, timezone

from multidict import CIMultiDict

from star_operator.acme.headers import (
    fresh_until,
    parse_http_date,
    parse_max_age,
    parse_retry_after,
)

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=timezone.utc)


def test_http_date_forms_are_parsed_as_utc() -> None:
    expected = datetime(1994, 11, 6, 8, 49, 37, tzinfo=timezone.utc)
    assert parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT") == expected
    assert parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT") == expected
    assert parse_http_date("Sun Nov  6 08:49:37 1994") == expected


def test_bad_or_missing_http_date_is_none() -> None:
    assert parse_http_date(None) is None
    assert parse_http_date("") is None
    assert parse_http_date("tomorrow-ish") is None


def test_retry_after_seconds_and_dates() -> None:
    assert parse_retry_after("7", NOW) == 7.0
    assert parse_retry_after("Sat, 01 Mar 2025 12:00:30 GMT", NOW) == 30.0
    assert parse_retry_after("Sat, 01 Mar 2025 11:00:00 GMT", NOW) == 0.0  # past: no wait
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after(None, NOW) is None


def test_max_age() -> None:
    assert parse_max_age("public, max-age=120") == 120
    assert parse_max_age('max-age="60"') == 60
    assert parse_max_age("s-maxage=5, max-age=10") == 10
    assert parse_max_age("no-store") is None
    assert parse_max_age("public") is None
    assert parse_max_age(None) is None


def test_fresh_until_subtracts_age() -> None:
    headers = CIMultiDict({"Cache-Control": "max-age=100", "Age": "30"})
    assert fresh_until(headers, NOW) == NOW + timedelta(seconds=70)
    assert fresh_until(CIMultiDict(), NOW) is None

"""Parsing and validating the newOrder auto-renewal object (RFC 8739 §3.1.1)."""
from __future__ import annotations

from typing import Any

import pytest

from star_ca.star.autorenewal import AutoRenewalError, Limits, parse_auto_renewal, rfc3339

NOW = 1_700_000_000
LIMITS = Limits(min_lifetime=60, max_duration=3600, default_lifetime_adjust=5,
                allow_certificate_get=True)


def parse(**raw: Any) -> dict[str, Any]:
    return parse_auto_renewal(raw, LIMITS, NOW)


def test_echo_with_server_choices() -> None:
    out = parse(**{"end-date": rfc3339(NOW + 600), "lifetime": 60,
                   "allow-certificate-get": True})
    assert out == {"end-date": rfc3339(NOW + 600), "lifetime": 60, "lifetime-adjust": 5,
                   "allow-certificate-get": True}
    no_get = parse_auto_renewal({"end-date": rfc3339(NOW + 600), "lifetime": 60,
                                 "allow-certificate-get": True},
                                Limits(60, 3600, 0, False), NOW)
    assert "allow-certificate-get" not in no_get


@pytest.mark.parametrize("raw, message", [
    ({"lifetime": 60}, "end-date is required"),
    ({"end-date": rfc3339(NOW + 600)}, "lifetime is required"),
    ({"end-date": rfc3339(NOW + 600), "lifetime": 59}, "min-lifetime"),
    ({"end-date": rfc3339(NOW + 3601), "lifetime": 60}, "max-duration"),
    ({"end-date": rfc3339(NOW + 9000), "start-date": rfc3339(NOW + 5000), "lifetime": 60},
     "max-duration"),
    ({"end-date": rfc3339(NOW - 1), "lifetime": 60}, "after"),
    ({"end-date": "2030-01-01T00:00:00", "lifetime": 60}, "time zone"),
    ({"end-date": rfc3339(NOW + 600), "lifetime": True}, "integer"),
    ({"end-date": rfc3339(NOW + 600), "lifetime": 60, "lifetime-adjust": -1}, "negative"),
    ({"end-date": rfc3339(NOW + 600), "lifetime": 60, "allow-certificate-get": "yes"},
     "boolean"),
])
def test_rejections(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(AutoRenewalError, match=message):
        parse_auto_renewal(raw, LIMITS, NOW)


def test_start_date_window_counts_from_start() -> None:
    out = parse(**{"start-date": rfc3339(NOW + 3000), "end-date": rfc3339(NOW + 6000),
                   "lifetime": 60})
    assert out["start-date"] == rfc3339(NOW + 3000)

"""Parsing of the HTTP headers that drive ACME timing decisions.

`Retry-After` tells us when to poll again, `Cert-Not-Before` / `Cert-Not-After` (RFC 8739 §3.3)
when a STAR certificate becomes usable and expires, and `Cache-Control: max-age` (RFC 8739 §4.3)
until when the fetched certificate is the current one. All are parsed here, with the standard
library's RFC 7231 date parser, so that malformed values degrade to `None` instead of crashing a
renewal loop.
"""

from __future__ import annotations

import email.utils
import re
from datetime import datetime, timedelta, timezone
from typing import Mapping

_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)\"?\s*(?:,|$)", re.IGNORECASE)


def parse_http_date(value: str | None) -> datetime | None:
    """An RFC 7231 HTTP-date (IMF-fixdate or the obsolete forms) as an aware UTC datetime."""
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait according to `Retry-After` (delta-seconds or HTTP-date), never negative."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    when = parse_http_date(value)
    if when is None:
        return None
    return max(0.0, (when - now).total_seconds())


def parse_max_age(cache_control: str | None) -> int | None:
    """The `max-age` directive of a `Cache-Control` header; `None` if absent or `no-store`."""
    if not cache_control:
        return None
    directives = {d.strip().lower() for d in cache_control.split(",")}
    if "no-store" in directives or "no-cache" in directives:
        return None
    match = _MAX_AGE.search(cache_control)
    return int(match.group(1)) if match else None


def fresh_until(headers: Mapping[str, str], received_at: datetime) -> datetime | None:
    """When a response stops being fresh (RFC 9111 §4.2): receipt + max-age − Age.

    Measured from the client's own receive time rather than the server's `Date`, so that the
    result can be compared with the client's clock whatever the skew between the two.
    """
    max_age = parse_max_age(headers.get("Cache-Control"))
    if max_age is None:
        return None
    age_text = (headers.get("Age") or "").strip()
    age = int(age_text) if age_text.isdigit() else 0
    return received_at + timedelta(seconds=max(0, max_age - age))

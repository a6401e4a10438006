"""Time parsing/formatting for CRD fields: Go-style durations with days, RFC 3339 stamps."""

from __future__ import annotations

import datetime
import re

_DURATION = re.compile(r"([0-9]+)(s|m|h|d|w)")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> int:
    """'1h30m' → 5400 seconds; the same grammar as the CRD pattern ``^([0-9]+(s|m|h|d|w))+$``."""
    if not text or _DURATION.sub("", text) != "":
        raise ValueError(f"invalid duration {text!r} (use e.g. 30s, 5m, 6h, 4d, 1w, 1h30m)")
    return sum(int(n) * _UNITS[u] for n, u in _DURATION.findall(text))


def utcnow() -> datetime.datetime:
    """Aware UTC now (one place to patch in tests)."""
    return datetime.datetime.now(datetime.timezone.utc)


def format_time(value: datetime.datetime | None) -> str | None:
    """RFC 3339 UTC with 'Z', truncated to whole seconds (what the CRD date-time stores)."""
    if value is None:
        return None
    value = value.astimezone(datetime.timezone.utc).replace(microsecond=0)
    return value.isoformat().replace("+00:00", "Z")


def parse_time(text: str | None) -> datetime.datetime | None:
    """Parse an RFC 3339 timestamp (as Kubernetes and RFC 8739 write them); None passes."""
    if not text:
        return None
    value = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    return value

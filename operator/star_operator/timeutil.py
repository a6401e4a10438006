"""Time parsing/formatting for CRD fields: Go-style durations with days, RFC 3339 stamps."""

from __future__ import annotations

import datetime
import re
from typing import overload

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


@overload
def format_time(value: datetime.datetime) -> str: ...


@overload
def format_time(value: None) -> None: ...


def format_time(value: datetime.datetime | None) -> str | None:
    """RFC 3339 UTC with 'Z', truncated to whole seconds (what the CRD date-time stores and ACME
    servers expect). A naive datetime is refused: Python would read it as local time, and an
    hour's error in an end-date is a certificate too many or too few."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError(f"datetime {value!r} has no timezone; stamps must be absolute")
    value = value.astimezone(datetime.timezone.utc).replace(microsecond=0)
    return value.isoformat().replace("+00:00", "Z")


def parse_time(text: str | None) -> datetime.datetime | None:
    """An RFC 3339 timestamp (as Kubernetes and RFC 8739 write them) as an aware datetime; None
    passes. A stamp without ``Z`` or an offset is refused (ValueError): RFC 3339 requires one,
    and guessing UTC or local time silently moves an end-date."""
    if not text:
        return None
    value = datetime.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no UTC offset (write e.g. {text}Z)")
    return value


def parse_time_or_none(value: object) -> datetime.datetime | None:
    """:func:`parse_time` for a peer's JSON: anything not a valid stamp is None (a server's odd
    ``expires`` must not fail an order)."""
    if not isinstance(value, str):
        return None
    try:
        return parse_time(value)
    except ValueError:
        return None

"""Parse and validate the ``auto-renewal`` object of a newOrder (RFC 8739 §3.1.1).

Returns the object the order echoes: the client's fields, normalised, plus the server's
choices (``lifetime-adjust`` default, ``allow-certificate-get`` only when offered).
"""
from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Any


class AutoRenewalError(ValueError):
    """Invalid auto-renewal request; maps to 400 malformed."""


@dataclass(frozen=True)
class Limits:
    min_lifetime: int
    max_duration: int
    default_lifetime_adjust: int
    allow_certificate_get: bool


def rfc3339(ts: float) -> str:
    """UTC, whole seconds (every order and authorization answer carries a few of these)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(ts)))


def parse_rfc3339(value: Any, name: str) -> int:
    """Seconds since the epoch, rounded up (a start or end never moves earlier)."""
    if not isinstance(value, str):
        raise AutoRenewalError(f"auto-renewal {name} must be an RFC 3339 string")
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise AutoRenewalError(f"auto-renewal {name} {value!r} is not RFC 3339") from None
    if parsed.tzinfo is None:
        raise AutoRenewalError(f"auto-renewal {name} {value!r} has no time zone offset")
    ts = parsed.timestamp()
    return int(ts) if ts == int(ts) else int(ts) + 1


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise AutoRenewalError(f"auto-renewal {name} must be an integer number of seconds")
    return value


def parse_auto_renewal(raw: Any, limits: Limits, now: float) -> dict[str, Any]:
    """The validated, echoed auto-renewal object; AutoRenewalError naming the bad field."""
    if not isinstance(raw, dict):
        raise AutoRenewalError("auto-renewal must be a JSON object")
    for required in ("end-date", "lifetime"):
        if required not in raw:
            raise AutoRenewalError(f"auto-renewal {required} is required")
    end = parse_rfc3339(raw["end-date"], "end-date")
    start = parse_rfc3339(raw["start-date"], "start-date") if "start-date" in raw else None
    lifetime = _int(raw["lifetime"], "lifetime")
    if lifetime < limits.min_lifetime:
        raise AutoRenewalError(
            f"auto-renewal lifetime {lifetime} is below this CA's min-lifetime "
            f"{limits.min_lifetime}")
    adjust = _int(raw.get("lifetime-adjust", limits.default_lifetime_adjust), "lifetime-adjust")
    if adjust < 0:
        raise AutoRenewalError("auto-renewal lifetime-adjust must not be negative")
    effective_start = max(start, int(now)) if start is not None else int(now)
    if end <= effective_start:
        raise AutoRenewalError("auto-renewal end-date must be after start-date and now")
    if end - effective_start > limits.max_duration:
        raise AutoRenewalError(
            f"auto-renewal end-date - start-date is {end - effective_start} s, more than this "
            f"CA's max-duration {limits.max_duration}")
    get = raw.get("allow-certificate-get", False)
    if not isinstance(get, bool):
        raise AutoRenewalError("auto-renewal allow-certificate-get must be a boolean")
    echoed: dict[str, Any] = {"end-date": rfc3339(end), "lifetime": lifetime,
                              "lifetime-adjust": adjust}
    if start is not None:
        echoed["start-date"] = rfc3339(start)
    if get and limits.allow_certificate_get:
        echoed["allow-certificate-get"] = True
    return echoed

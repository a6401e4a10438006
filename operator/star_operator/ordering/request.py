"""A StarOrder's spec as an order request, and the checks made before any key or CA order.

Pure functions: the StarOrder handler turns the returned violations into ``Ready=False`` plus a
Warning Event, and never contacts the CA for a request that fails here.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping
from typing import Any

from star_operator import timeutil
from star_operator.csr_template import Violation
from star_operator.ordering.templates import TemplatePolicy

#: Spec fields fixed once the CA order exists (secretPolicy may change at any time).
IMMUTABLE_FIELDS = ("csrTemplateName", "dnsNames", "keyType", "subject", "lifetime",
                    "lifetimeAdjust", "duration", "endDate", "startDate", "secretName", "csr",
                    "star")
#: Values an older StarOrder's record lacks because the field did not exist: not recorded, so
#: the API server's defaulting of a new field never reads as a change of an ordered one.
_UNRECORDED_DEFAULTS = {"star": True}


@dataclasses.dataclass(frozen=True)
class OrderRequest:
    """What will be asked of the CA."""

    names: tuple[str, ...]
    key_type: str
    subject: Mapping[str, str]
    lifetime: int
    lifetime_adjust: int | None
    start_date: datetime.datetime | None
    end_date: datetime.datetime


def ordered_fields(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The immutable part of a spec, as recorded in ``status.ordered``."""
    out: dict[str, Any] = {}
    for key in IMMUTABLE_FIELDS:
        if spec.get(key) not in (None, "", [], {}) and \
                _UNRECORDED_DEFAULTS.get(key, ...) != spec[key]:
            value = spec[key]
            out[key] = sorted(value) if key == "dnsNames" else value
    return out


def changed_immutable(spec: Mapping[str, Any], ordered: Mapping[str, Any]) -> list[str]:
    """Which immutable fields differ from what the order was placed with."""
    now = ordered_fields(spec)
    return [f"spec.{k}" for k in IMMUTABLE_FIELDS if now.get(k) != ordered.get(k)]


def build_request(spec: Mapping[str, Any], now: datetime.datetime,
                  recorded_end: str | None = None) -> OrderRequest:
    """Parse durations and dates; ``recorded_end`` (status.endDate) wins on resume so a
    ``duration`` is not re-anchored to a later 'now'. Raises ValueError on bad values."""
    lifetime = timeutil.parse_duration(spec["lifetime"])
    adjust = timeutil.parse_duration(spec["lifetimeAdjust"]) if spec.get(
        "lifetimeAdjust") else None
    start = timeutil.parse_time(spec.get("startDate"))
    end = timeutil.parse_time(recorded_end) or timeutil.parse_time(spec.get("endDate"))
    if end is None:
        if not spec.get("duration"):
            raise ValueError("one of spec.duration or spec.endDate is required")
        end = (start or now) + datetime.timedelta(seconds=timeutil.parse_duration(
            spec["duration"]))
    return OrderRequest(names=tuple(spec.get("dnsNames") or ()),
                        key_type=spec.get("keyType") or "ecdsa-p256",
                        subject=dict(spec.get("subject") or {}), lifetime=lifetime,
                        lifetime_adjust=adjust, start_date=start, end_date=end.replace(
                            microsecond=0))


def check_bounds(req: OrderRequest, policy: TemplatePolicy,
                 now: datetime.datetime) -> list[Violation]:
    """STAR limits from the template; every problem is reported, not only the first."""
    b, out = policy.bounds, []
    if req.lifetime < b.min_lifetime:
        out.append(Violation("spec.lifetime", f"{req.lifetime}s is below the template's "
                                              f"minLifetime {b.min_lifetime}s"))
    if req.lifetime > b.max_lifetime:
        out.append(Violation("spec.lifetime", f"{req.lifetime}s exceeds the template's "
                                              f"maxLifetime {b.max_lifetime}s"))
    start = req.start_date or now
    if req.end_date <= start:
        out.append(Violation("spec.endDate", "the end date must be after the start"))
    elif (req.end_date - start).total_seconds() > b.max_duration:
        out.append(Violation("spec.duration", f"the order would run "
                                              f"{int((req.end_date - start).total_seconds())}s, "
                                              f"beyond the template's maxDuration "
                                              f"{b.max_duration}s"))
    if req.lifetime_adjust is not None and req.lifetime_adjust > req.lifetime:
        out.append(Violation("spec.lifetimeAdjust", "must not exceed the lifetime"))
    return out


def format_violations(violations: list[Violation]) -> str:
    """One line for a condition message."""
    return "; ".join(str(v) for v in violations)

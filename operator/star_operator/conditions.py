"""Kubernetes-style status conditions, as pure functions over plain lists of dicts.

Handlers write status with merge patches, which replace lists wholesale; these helpers compute
the complete new list from the old one so a condition's ``lastTransitionTime`` only moves when its
status actually flips (kubectl wait and alerting rely on that).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from star_operator import timeutil

READY = "Ready"

TRUE = "True"
FALSE = "False"
UNKNOWN = "Unknown"


def now_iso(now: datetime.datetime | None = None) -> str:
    """RFC 3339 UTC timestamp with second precision, as Kubernetes writes them."""
    return timeutil.format_time(now or timeutil.utcnow()) or ""


def make_condition(type_: str, status: bool | str, reason: str, message: str = "", *,
                   observed_generation: int | None = None,
                   now: datetime.datetime | None = None) -> dict[str, Any]:
    """One condition; ``status`` may be a bool for brevity."""
    if isinstance(status, bool):
        status = TRUE if status else FALSE
    if status not in (TRUE, FALSE, UNKNOWN):
        raise ValueError(f"condition status must be True/False/Unknown, not {status!r}")
    cond: dict[str, Any] = {"type": type_, "status": status, "reason": reason,
                            "message": message, "lastTransitionTime": now_iso(now)}
    if observed_generation is not None:
        cond["observedGeneration"] = observed_generation
    return cond


def set_condition(conditions: Iterable[Mapping[str, Any]] | None,
                  new: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Return ``conditions`` with ``new`` replacing the one of the same type.

    The previous ``lastTransitionTime`` is kept when the status did not change.
    """
    result: list[dict[str, Any]] = []
    placed = False
    for cond in conditions or ():
        if cond.get("type") != new["type"]:
            result.append(dict(cond))
            continue
        merged = dict(new)
        if cond.get("status") == new["status"] and cond.get("lastTransitionTime"):
            merged["lastTransitionTime"] = cond["lastTransitionTime"]
        result.append(merged)
        placed = True
    if not placed:
        result.append(dict(new))
    return result


def get_condition(conditions: Sequence[Mapping[str, Any]] | None,
                  type_: str) -> Mapping[str, Any] | None:
    """The condition of ``type_``, or None."""
    for cond in conditions or ():
        if cond.get("type") == type_:
            return cond
    return None


def is_true(conditions: Sequence[Mapping[str, Any]] | None, type_: str = READY) -> bool:
    """Whether the condition exists and is True."""
    cond = get_condition(conditions, type_)
    return bool(cond and cond.get("status") == TRUE)


def same_condition(a: Mapping[str, Any] | None, b: Mapping[str, Any]) -> bool:
    """Equal apart from timestamps: lets callers skip a status patch that changes nothing."""
    if a is None:
        return False
    keys = ("type", "status", "reason", "message", "observedGeneration")
    return all(a.get(k) == b.get(k) for k in keys)


def ready_update(status: Mapping[str, Any] | None, ready: bool | str, reason: str,
                 message: str = "", *, generation: int | None,
                 fields: Mapping[str, Any] | None = None,
                 type_: str = READY) -> dict[str, Any] | None:
    """The status merge patch setting condition ``type_`` (plus ``fields`` and
    ``observedGeneration``), or None when it would change nothing: periodic re-checks then cost
    no write and post no Event."""
    status = status or {}
    cond = make_condition(type_, ready, reason, message, observed_generation=generation)
    patch: dict[str, Any] = {**(fields or {}), "observedGeneration": generation}
    if same_condition(get_condition(status.get("conditions"), type_), cond) and all(
            status.get(k) == v for k, v in patch.items()):
        return None
    patch["conditions"] = set_condition(status.get("conditions"), cond)
    return patch

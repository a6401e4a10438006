"""newOrder identifier policy: ``dns`` only, LDH names, a wildcard only as the whole leftmost
label. Problems are returned per identifier so the client sees every bad name at once."""
from __future__ import annotations

import re
from typing import Any

from star_ca.problems import AcmeError, combine, problem

LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
MAX_IDENTIFIERS = 100


def _check_name(value: str) -> str | None:
    """Why ``value`` is not an acceptable dns identifier, or None."""
    name = value[2:] if value.startswith("*.") else value
    if not name or len(value) > 253:
        return "name is empty or longer than 253 characters"
    labels = name.split(".")
    if not all(LABEL.match(label) for label in labels):
        return "name is not a valid lowercase LDH domain name (no trailing dot, no '*' " \
               "except a whole leftmost label)"
    if all(label.isdigit() for label in labels):
        return "IP addresses are not dns identifiers"
    return None


def parse_identifiers(raw: Any) -> list[str]:
    """Normalised, de-duplicated identifier values in request order."""
    if not isinstance(raw, list) or not raw:
        raise AcmeError("malformed", "identifiers must be a non-empty list")
    if len(raw) > MAX_IDENTIFIERS:
        raise AcmeError("rejectedIdentifier", f"at most {MAX_IDENTIFIERS} identifiers")
    values: list[str] = []
    subproblems: list[dict[str, Any]] = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("value"), str):
            raise AcmeError("malformed", "each identifier needs a type and a string value")
        value = item["value"].lower()
        if item.get("type") != "dns":
            subproblems.append(problem("unsupportedIdentifier",
                                       f"identifier type {item.get('type')!r} is not supported",
                                       identifier=value))
            continue
        reason = _check_name(value)
        if reason:
            subproblems.append(problem("rejectedIdentifier", f"{value}: {reason}",
                                       identifier=value))
        elif value not in values:
            values.append(value)
    if subproblems:
        raise combine(subproblems, "the order contains identifiers this CA will not issue for")
    return values

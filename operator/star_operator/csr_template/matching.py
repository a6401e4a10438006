"""Match the values a CSR carries (or a client asks for) to a template's list entries.

Shared by the checker and the generator so that "would this CSR pass" and "can I build a CSR for
these names" can never disagree. Literal entries are mandatory and each is consumed by one equal
value; the remaining values go to placeholders: every ``**`` entry must take one, every ``*``
entry may take one. Placeholders are interchangeable, so the assignment reduces to counting.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .vocab import MANDATORY, OPTIONAL


@dataclass(frozen=True)
class Match:
    """Outcome of matching values to entries; all name lists keep the values' order."""

    missing_literals: tuple[str, ...]  # template literals no value matched
    client_values: tuple[str, ...]  # values taken by placeholder entries
    extra: tuple[str, ...]  # values left over: neither a literal nor room in a placeholder
    duplicates: tuple[str, ...]  # values given more than once (dropped before matching)
    required: int  # number of "**" entries
    shortfall: int  # "**" entries left without a value


def match_entries(entries: Sequence[str], values: Sequence[str],
                  normalize: Callable[[str], str] = lambda v: v) -> Match:
    """Assign ``values`` to template ``entries`` (already-normalised literals and placeholders)."""
    literals = [e for e in entries if e not in (MANDATORY, OPTIONAL)]
    required = sum(1 for e in entries if e == MANDATORY)
    capacity = required + sum(1 for e in entries if e == OPTIONAL)
    seen: set[str] = set()
    duplicates: list[str] = []
    others: list[str] = []
    for value in values:
        key = normalize(value)
        if key in seen:
            duplicates.append(value)
            continue
        seen.add(key)
        if key not in literals:
            others.append(value)
    return Match(
        missing_literals=tuple(lit for lit in literals if lit not in seen),
        client_values=tuple(others[:capacity]),
        extra=tuple(others[capacity:]),
        duplicates=tuple(duplicates),
        required=required,
        shortfall=max(0, required - len(others)),
    )

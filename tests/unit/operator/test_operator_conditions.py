"""Condition helpers: transition times move only on flips; patches carry the full list."""
from __future__ import annotations

import datetime

import pytest

from star_operator import conditions

T1 = datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)
T2 = T1 + datetime.timedelta(hours=1)


def test_set_keeps_transition_time_when_status_unchanged() -> None:
    old = [conditions.make_condition("Ready", True, "A", now=T1)]
    new = conditions.set_condition(old, conditions.make_condition("Ready", True, "B", now=T2))
    assert new[0]["lastTransitionTime"] == "2030-01-01T00:00:00Z"
    assert new[0]["reason"] == "B"


def test_set_moves_transition_time_on_flip_and_keeps_others() -> None:
    old = [conditions.make_condition("Other", False, "X", now=T1),
           conditions.make_condition("Ready", True, "A", now=T1)]
    new = conditions.set_condition(old, conditions.make_condition("Ready", False, "B", now=T2))
    assert [c["type"] for c in new] == ["Other", "Ready"]
    assert new[1]["lastTransitionTime"] == "2030-01-01T01:00:00Z"


def test_append_and_lookup() -> None:
    conds = conditions.set_condition(None, conditions.make_condition("Ready", "Unknown", "R"))
    assert conditions.get_condition(conds, "Ready")["status"] == "Unknown"
    assert not conditions.is_true(conds)
    assert conditions.get_condition(conds, "Nope") is None


def test_invalid_status_rejected() -> None:
    with pytest.raises(ValueError):
        conditions.make_condition("Ready", "yes", "R")


def test_same_condition_ignores_timestamps() -> None:
    a = conditions.make_condition("Ready", True, "R", "m", now=T1)
    assert conditions.same_condition(a, conditions.make_condition("Ready", True, "R", "m", now=T2))
    assert not conditions.same_condition(a, conditions.make_condition("Ready", True, "R", "n"))
    assert not conditions.same_condition(None, a)


def test_ready_update_contains_fields_generation_and_conditions() -> None:
    patch = conditions.ready_update({"conditions": []}, False, "Bad", "why", generation=3,
                                    fields={"phase": "Rejected"})
    assert patch is not None
    assert patch["phase"] == "Rejected" and patch["observedGeneration"] == 3
    assert patch["conditions"][0]["observedGeneration"] == 3


def test_ready_update_is_none_only_when_nothing_changes() -> None:
    first = conditions.ready_update(None, True, "Ok", "fine", generation=2, fields={"a": 1})
    assert first is not None
    status = dict(first)
    assert conditions.ready_update(status, True, "Ok", "fine", generation=2,
                                   fields={"a": 1}) is None
    assert conditions.ready_update(status, True, "Ok", "fine", generation=2,
                                   fields={"a": 2}) is not None  # a field changed
    assert conditions.ready_update(status, True, "Ok", "fine", generation=3) is not None
    assert conditions.ready_update(status, True, "Ok", "finer", generation=2) is not None

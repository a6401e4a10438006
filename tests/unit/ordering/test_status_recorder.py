"""The StarOrder status recorder's deferred writes (ordering.status.StatusRecorder.defer_ready)
over the fake status sub-resource: a deferred change is read back at once, goes out with the
next write whatever it is, and is written even when that next Ready changes nothing."""

from __future__ import annotations

import asyncio

from tests.unit.ordering.fakes import Fakes


def test_a_deferred_change_rides_on_the_next_write() -> None:
    fakes = Fakes({})
    rec = fakes.job().recorder
    rec.defer_ready(False, "KeyStaged", "key stored", phase="KeyStaged", csr="PEM")
    assert fakes.patches == [] and rec.get("csr") == "PEM" and rec.phase == "KeyStaged"
    asyncio.run(rec.record(newOrderAt="2030-01-01T00:00:00Z"))
    assert len(fakes.patches) == 1
    assert fakes.patches[0]["csr"] == "PEM" and fakes.patches[0]["newOrderAt"]
    assert fakes.ready() == ("False", "KeyStaged")
    asyncio.run(rec.flush())
    assert len(fakes.patches) == 1  # nothing left to write


def test_a_deferred_change_is_written_by_a_ready_that_changes_nothing_more() -> None:
    fakes = Fakes({})
    rec = fakes.job().recorder
    rec.defer_ready(False, "KeyStaged", "key stored", csr="PEM")
    asyncio.run(rec.ready(False, "KeyStaged", "key stored"))  # the same as deferred
    assert len(fakes.patches) == 1 and fakes.status["csr"] == "PEM"


def test_a_later_ready_wins_over_the_deferred_one_in_the_same_write() -> None:
    fakes = Fakes({})
    rec = fakes.job().recorder
    rec.defer_ready(False, "KeyStaged", "key stored", phase="KeyStaged", csr="PEM")
    asyncio.run(rec.ready(False, "CAUnreachable", "refused", event="Warning"))
    assert len(fakes.patches) == 1
    assert fakes.ready() == ("False", "CAUnreachable") and fakes.status["csr"] == "PEM"
    assert [e[:2] for e in fakes.events] == [("Warning", "CAUnreachable")]

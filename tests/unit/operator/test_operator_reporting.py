"""The one condition+Event writer: the Event follows a written status, and nothing repeats."""

from __future__ import annotations

import asyncio
from typing import Any

from star_operator import reporting


class Sink:
    """A fake API server status sub-resource plus an Event recorder."""

    def __init__(self, applies: bool = True) -> None:
        self.status: dict[str, Any] = {}
        self.patches: list[dict[str, Any]] = []
        self.events: list[tuple[str, str, str]] = []
        self.applies = applies

    async def write(self, patch: dict[str, Any]) -> bool:
        self.patches.append(patch)
        if self.applies:
            self.status.update(patch)
        return self.applies

    def post(self, type_: str, reason: str, message: str) -> None:
        assert self.status.get("conditions") or not self.applies, "Event before the status"
        self.events.append((type_, reason, message))

    def report(self, ready: bool, reason: str, message: str, **kw: Any) -> bool:
        return asyncio.run(reporting.report(self.status, ready, reason, message, generation=4,
                                            write=self.write, post_event=self.post, **kw))


def test_writes_then_posts_once_per_change() -> None:
    sink = Sink()
    assert sink.report(False, "CAUnreachable", "down", event="Warning", fields={"phase": "X"})
    assert not sink.report(False, "CAUnreachable", "down", event="Warning",
                           fields={"phase": "X"})
    assert sink.report(True, "Issued", "ok", event="Normal")
    assert [p["conditions"][0]["reason"] for p in sink.patches] == ["CAUnreachable", "Issued"]
    assert sink.patches[0]["phase"] == "X" and sink.patches[0]["observedGeneration"] == 4
    assert sink.events == [("Warning", "CAUnreachable", "down"), ("Normal", "Issued", "ok")]


def test_no_event_type_writes_without_an_event() -> None:
    sink = Sink()
    assert sink.report(True, "Ok", "fine")
    assert len(sink.patches) == 1 and sink.events == []


def test_a_write_not_applied_posts_no_event() -> None:
    sink = Sink(applies=False)
    assert not sink.report(False, "Bad", "why", event="Warning")
    assert len(sink.patches) == 1 and sink.events == []

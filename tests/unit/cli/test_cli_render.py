"""Plain-text layout of ``kubectl star``."""
from __future__ import annotations

import datetime

import pytest

from star_operator.cli import render

NOW = datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0s"), (4, "4s"), (60, "1m"), (272, "4m32s"), (3600, "1h"), (7440, "2h4m"),
    (190000, "2d4h"), (86400 * 12 + 3600, "12d"), (-272, "4m32s")])
def test_duration(seconds: float, text: str) -> None:
    assert render.duration(seconds) == text


def test_until_and_stamp() -> None:
    assert render.until("2030-01-01T00:04:32Z", NOW) == "in 4m32s"
    assert render.until("2029-12-31T23:59:50+00:00", NOW) == "10s ago"
    assert render.until(None, NOW) is None and render.until("garbage", NOW) is None
    assert render.stamp("2030-01-01T02:00:00.5Z", NOW) == "2030-01-01T02:00:00Z (in 2h)"


def test_fields_align_values_and_print_dashes_for_none() -> None:
    lines = render.fields([("Name", "web"), ("Order (STAR ID)", None), ("Multi", "a\nb")])
    assert lines == ["Name:            web", "Order (STAR ID): -", "Multi:           a",
                     "                 b"]


def test_table_aligns_columns() -> None:
    lines = render.table(["TYPE", "REASON", "MESSAGE"],
                         [["Normal", "Issued", "certificate 1"], ["Warning", "X", None]],
                         indent=2)
    assert lines == ["  TYPE      REASON   MESSAGE", "  Normal    Issued   certificate 1",
                     "  Warning   X        -"]

"""Plain-text layout shared by the commands: aligned fields and tables, human durations."""
from __future__ import annotations

import datetime
import json
from collections.abc import Iterable, Sequence
from typing import Any

from star_operator import timeutil

NONE = "-"


def fields(pairs: Iterable[tuple[str, Any]], indent: int = 0) -> list[str]:
    """``Label:  value`` lines, values aligned; a None value prints as ``-``."""
    pairs = list(pairs)
    if not pairs:
        return []
    width = max(len(label) for label, _ in pairs) + 2
    pad = " " * indent
    out = []
    for label, value in pairs:
        text = NONE if value is None or value == "" else str(value)
        lines = text.splitlines() or [""]
        out.append(f"{pad}{(label + ':').ljust(width)}{lines[0]}".rstrip())
        out.extend(f"{pad}{' ' * width}{line}".rstrip() for line in lines[1:])
    return out


def table(header: Sequence[str], rows: Iterable[Sequence[Any]], indent: int = 0) -> list[str]:
    """Columns aligned like ``kubectl get`` (the last column unpadded)."""
    rows = [[NONE if v is None or v == "" else str(v) for v in row] for row in rows]
    grid = [list(header), *rows]
    widths = [max(len(r[i]) for r in grid) for i in range(len(header))]
    pad = " " * indent
    return [pad + "   ".join(cell.ljust(widths[i]) if i < len(header) - 1 else cell
                             for i, cell in enumerate(row)).rstrip() for row in grid]


def duration(seconds: float) -> str:
    """4 → ``4s``, 272 → ``4m32s``, 7440 → ``2h4m``, 190000 → ``2d4h`` (kubectl's style)."""
    total = int(abs(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h" if hours and days < 10 else f"{days}d"
    if hours:
        return f"{hours}h{minutes}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m{secs}s" if secs else f"{minutes}m"
    return f"{secs}s"


def parse(value: Any) -> datetime.datetime | None:
    if isinstance(value, datetime.datetime):
        return value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)
    try:
        return timeutil.parse_time(value) if isinstance(value, str) else None
    except ValueError:
        return None


def until(value: Any, now: datetime.datetime) -> str | None:
    """``in 4m32s`` / ``4m32s ago`` for a timestamp, None when there is none."""
    when = parse(value)
    if when is None:
        return None
    delta = (when - now).total_seconds()
    return f"in {duration(delta)}" if delta >= 0 else f"{duration(delta)} ago"


def stamp(value: Any, now: datetime.datetime) -> str | None:
    """``2026-05-01T10:00:00Z (in 4m32s)``: the RFC 3339 time and how far away it is."""
    when = parse(value)
    if when is None:
        return None
    return f"{timeutil.format_time(when)} ({until(when, now)})"


def dump_json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=False, default=str)

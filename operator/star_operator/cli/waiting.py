"""``--wait`` for the commands that ask the operator for something: re-read until done."""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

#: How often the object is read again while waiting (a CLI, not a controller: no watch needed).
POLL_SECONDS = 1.0


def add_wait_options(parser: Any, until: str, default_timeout: float) -> None:
    """``--wait`` / ``--timeout`` for a command that asks the operator for something."""
    parser.add_argument("--wait", action="store_true", help=f"wait until {until}")
    parser.add_argument("--timeout", type=float, default=default_timeout, metavar="SECONDS",
                        help=f"how long --wait waits (default {default_timeout:.0f})")


def wait_until(read: Callable[[], dict[str, Any]], done: Callable[[dict[str, Any]], bool],
               timeout: float) -> tuple[dict[str, Any], bool]:
    """The object as last read, and whether ``done`` held before ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        obj = read()
        if done(obj):
            return obj, True
        if time.monotonic() >= deadline:
            return obj, False
        time.sleep(POLL_SECONDS)

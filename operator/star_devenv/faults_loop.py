"""An asyncio event loop in a daemon thread, for the fault harness's relays.

The fault tests are synchronous (they drive kubectl and wait on conditions); the relays they put
between the operator and star-ca are asyncio servers. Running those in a thread of the test
process, rather than in a subprocess, lets a test change a relay's behaviour (hold a request,
release it) with a method call and no control protocol.
"""
from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class BackgroundLoop:
    """``start()`` runs a fresh event loop in a daemon thread; ``run(coro)`` executes a coroutine
    on it and returns its result; ``stop()`` ends the loop and joins the thread."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, func: Any, *args: Any) -> None:
        """Schedule ``func(*args)`` on the loop (thread-safe; futures are not)."""
        self.loop.call_soon_threadsafe(func, *args)

    def stop(self) -> None:
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
        if not self.loop.is_running():
            self.loop.close()

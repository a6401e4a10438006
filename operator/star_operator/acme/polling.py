"""Polling an ACME resource until it reaches a wanted state, honouring `Retry-After`.

RFC 8555 §7.4 has clients poll orders and authorizations; the server paces them with
`Retry-After`. Waiting between polls is the protocol's own pacing (not synchronisation by sleep):
each wait is the server's `Retry-After` (or a short backoff when it sends none), and the whole
loop is bounded by an overall deadline so a stuck CA cannot hang the caller.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone
from typing import Awaitable, Callable, TypeVar

from star_operator.backoff import Backoff

from .errors import AcmeTimeout
from .headers import parse_retry_after
from .http import HttpResponse

T = TypeVar("T")

#: Without `Retry-After`: 1 s doubling up to 10 s, no jitter (the server paces, not a herd).
PACE = Backoff(first=1.0, cap=10.0, spread=0.0)


def next_delay(resp: HttpResponse, polls: int) -> float:
    """The server's `Retry-After`, else :data:`PACE` after the ``polls``-th unfinished poll."""
    retry_after = parse_retry_after(resp.headers.get("Retry-After"), datetime.now(timezone.utc))
    if retry_after is not None:
        return retry_after
    return PACE.delay(polls)


async def poll_until(
    fetch: Callable[[], Awaitable[tuple[T, HttpResponse]]],
    done: Callable[[T], bool],
    *,
    timeout: float,
    what: str,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Fetch until `done(obj)`; raise `AcmeTimeout` naming `what` once `timeout` seconds pass.

    A wait that would overshoot the deadline is shortened so that one last fetch happens at
    the deadline; `sleep` and `clock` are injectable for unit tests of the pacing.
    """
    deadline = clock() + timeout
    polls = 0
    while True:
        obj, resp = await fetch()
        if done(obj):
            return obj
        remaining = deadline - clock()
        if remaining <= 0:
            state = getattr(obj, "status", obj)
            raise AcmeTimeout(f"{what} not done after {timeout:.0f}s (last status: {state})")
        polls += 1
        delay = next_delay(resp, polls)
        await sleep(min(delay, remaining))

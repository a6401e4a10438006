"""Wake a sleeping StarCertificate loop early (its spec changed), without polling the body."""

from __future__ import annotations

import asyncio

_events: dict[tuple[str, str], asyncio.Event] = {}


def event(namespace: str, name: str) -> asyncio.Event:
    """The wake-up event of one object (created on first use)."""
    key = (namespace, name)
    ev = _events.get(key)
    if ev is None:
        ev = _events[key] = asyncio.Event()
    return ev


def wake(namespace: str, name: str) -> None:
    """Interrupt the object's current wait, if any."""
    ev = _events.get((namespace, name))
    if ev is not None:
        ev.set()


def forget(namespace: str, name: str) -> None:
    """Drop the event of a deleted object."""
    _events.pop((namespace, name), None)


async def sleep(namespace: str, name: str, seconds: float | None) -> bool:
    """Sleep up to ``seconds`` (forever if None); True if woken early."""
    ev = event(namespace, name)
    try:
        if seconds is None:
            await ev.wait()
        else:
            await asyncio.wait_for(ev.wait(), timeout=max(0.0, seconds))
        return True
    except asyncio.TimeoutError:
        return False
    finally:
        ev.clear()

"""Bounds on concurrent work, so that 1,000 objects arriving together queue instead of stampede.

Applying 1,000 StarOrders at once would otherwise start 1,000 issuances at once: each one waits
for a pooled connection to the API server and to the CA, the pools' timeouts fire, and the
retries (with growing backoff) stretch issuance over many minutes. One semaphore per event loop
keeps the issuances in flight at what the connection pools and the CA serve well; the others
wait their turn, without a timeout running.
"""

from __future__ import annotations

import asyncio

from star_operator import config

_issuance: dict[int, asyncio.Semaphore] = {}


def issuance_slot() -> asyncio.Semaphore:
    """The current event loop's semaphore for StarOrder reconciliations (issuance, resume)."""
    loop_id = id(asyncio.get_running_loop())
    sem = _issuance.get(loop_id)
    if sem is None:
        sem = _issuance[loop_id] = asyncio.Semaphore(config.get().max_concurrent_issuances)
    return sem

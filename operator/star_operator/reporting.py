"""The one "write the Ready condition, then post an Event" step.

Why one: StarOrders, CsrTemplates, StarIssuers and Delegations all report a verdict the same
way, and the order matters: the Event is posted only once the status holding the same reason is
written (a user who sees the Event finds the condition), and neither happens when nothing
changed (re-checks every 30 s must not flood Events or API writes). The write itself is passed
in, so this holds for a merge patch, a JSON patch with a ``test`` op, or a fake in unit tests.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from star_operator import conditions
from star_operator.events import EventPoster

#: Writes a status patch; returning False means it was not applied (then no Event is posted).
StatusWriter = Callable[[dict[str, Any]], Awaitable[object]]


async def report(status: Mapping[str, Any] | None, ready: bool, reason: str, message: str, *,
                 generation: int | None, write: StatusWriter, post_event: EventPoster,
                 event: str | None = None, fields: Mapping[str, Any] | None = None,
                 type_: str = conditions.READY) -> bool:
    """Write condition ``type_`` (plus ``fields``) if that changes anything, then post an Event
    of type ``event`` (None: no Event). Returns whether the status was written."""
    patch = conditions.ready_update(status, ready, reason, message, generation=generation,
                                    fields=fields, type_=type_)
    if patch is None or await write(patch) is False:
        return False
    if event:
        post_event(event, reason, message)
    return True

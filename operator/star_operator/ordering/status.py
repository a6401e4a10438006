"""A StarOrder's status as the durable progress record of its issuance.

Every step that creates something outside the StarOrder (the key in the Secret, the order at the
CA) is followed by an immediate status PATCH, before the next step starts. On resume the record
says which steps are done, so a restart never places a second order or makes a second key.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from star_operator import k8s, metrics, reporting
from star_operator import constants as c
from star_operator.events import EventPoster

#: The phases under the names :mod:`.via_front_end` reads (``st.VALID``); the vocabulary is
#: ``constants.Phase``.
PENDING, KEY_STAGED, ORDERED, VALID, REJECTED, FAILED, CANCELING, CANCELED = c.Phase


#: Merge-patches a status sub-resource and returns the object (:func:`star_operator.k8s.
#: patch_status`; a fake in unit tests, which then see every write).
StatusPatch = Callable[[str, str | None, str, Mapping[str, Any]], Awaitable[dict[str, Any]]]
#: JSON-patches a status sub-resource (:func:`star_operator.k8s.json_patch_status`; a fake in
#: unit tests).
StatusOps = Callable[[str, str | None, str, Sequence[Mapping[str, Any]]],
                     Awaitable[dict[str, Any]]]


class StatusRecorder:
    """Holds the latest known status of one StarOrder and writes changes through at once."""

    def __init__(self, namespace: str, name: str, status: Mapping[str, Any] | None,
                 generation: int | None, post_event: EventPoster,
                 logger: logging.Logger | logging.LoggerAdapter[Any],
                 patch_status: StatusPatch = k8s.patch_status) -> None:
        self.namespace, self.name = namespace, name
        self.patch_status = patch_status
        self.status: dict[str, Any] = dict(status or {})
        self.generation = generation
        self.post_event = post_event
        self.logger = logger

    @property
    def phase(self) -> str:
        return self.status.get("phase") or c.Phase.PENDING

    def get(self, key: str, default: Any = None) -> Any:
        return self.status.get(key, default)

    async def record(self, **fields: Any) -> None:
        """PATCH ``fields`` into status now (None deletes a field)."""
        if "phase" in fields and fields["phase"] != self.phase:
            metrics.set_order_phase(self.namespace, self.name, fields["phase"], self.phase)
        fields.setdefault("observedGeneration", self.generation)
        result = await self.patch_status(c.STARORDER_PLURAL, self.namespace, self.name, fields)
        self.status = dict(result.get("status") or {})

    async def ready(self, ready: bool, reason: str, message: str, *,
                    event: str | None = None, **fields: Any) -> None:
        """Set the Ready condition (plus fields) and optionally post an Event of type ``event``
        (:func:`star_operator.reporting.report`: neither when nothing would change)."""
        await reporting.report(self.status, ready, reason, message, generation=self.generation,
                               write=self._write, post_event=self.post_event, event=event,
                               fields=fields)

    async def _write(self, patch: dict[str, Any]) -> None:
        await self.record(**patch)

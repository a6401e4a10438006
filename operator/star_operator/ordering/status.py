"""A StarOrder's status as the durable progress record of its issuance.

Every step that creates something outside the StarOrder is recorded before the next such step
starts: the key staged in the Secret is recorded with the ``newOrderAt`` marker, in the write
that precedes newOrder (:meth:`StatusRecorder.defer_ready`), and the order at the CA in a write
of its own the moment the CA answers. On resume the record says which steps are done, so a
restart never places a second order; a key whose record was lost with an attempt is replaced
by a new one before anything is ordered for it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from star_operator import conditions, k8s, metrics, reporting
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
        #: A change held for the next write (:meth:`defer_ready`), already in ``status``.
        self._deferred: dict[str, Any] = {}

    @property
    def phase(self) -> str:
        return self.status.get("phase") or c.Phase.PENDING

    def get(self, key: str, default: Any = None) -> Any:
        return self.status.get(key, default)

    def _phase_metric(self, fields: Mapping[str, Any]) -> None:
        if "phase" in fields and fields["phase"] != self.phase:
            metrics.set_order_phase(self.namespace, self.name, fields["phase"])

    async def record(self, **fields: Any) -> None:
        """PATCH ``fields`` into status now (None deletes a field), with any deferred change."""
        self._phase_metric(fields)
        fields = {**self._deferred, **fields}
        fields.setdefault("observedGeneration", self.generation)
        result = await self.patch_status(c.STARORDER_PLURAL, self.namespace, self.name, fields)
        self._deferred = {}
        self.status = dict(result.get("status") or {})

    async def ready(self, ready: bool, reason: str, message: str, *,
                    event: str | None = None, **fields: Any) -> None:
        """Set the Ready condition (plus fields) and optionally post an Event of type ``event``
        (:func:`star_operator.reporting.report`: neither when nothing would change, except
        that a deferred change is written all the same)."""
        written = await reporting.report(self.status, ready, reason, message,
                                         generation=self.generation, write=self._write,
                                         post_event=self.post_event, event=event,
                                         fields=fields)
        if not written:
            await self.flush()

    def defer_ready(self, ready: bool, reason: str, message: str, **fields: Any) -> None:
        """Set Ready (plus fields) with the next write instead of now; reads see it at once.

        For a step whose record need not stand on its own: the key staged in the Secret is
        recorded with the ``newOrderAt`` marker that must precede newOrder anyway (one PATCH
        less per new order), or with the failure that ends the attempt first. Lost only if the
        attempt ends without any write (cancelled mid-step); the next one then stages a new
        key, nothing having been ordered for this one. No Event: an Event goes with a write.
        """
        patch = conditions.ready_update(self.status, ready, reason, message,
                                        generation=self.generation, fields=fields)
        if patch is None:
            return
        self._phase_metric(patch)
        self._deferred.update(patch)
        for key, value in patch.items():
            if value is None:
                self.status.pop(key, None)
            else:
                self.status[key] = value

    async def flush(self) -> None:
        """Write a deferred change now, if there is one."""
        if self._deferred:
            await self.record()

    async def _write(self, patch: dict[str, Any]) -> None:
        await self.record(**patch)

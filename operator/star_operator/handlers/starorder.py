"""StarOrder: thin kopf wiring around :mod:`star_operator.ordering`."""

from __future__ import annotations

import asyncio
from typing import Any

import kopf

from star_operator import config, events, limits
from star_operator.handlers import transient
from star_operator import constants as c
from star_operator.ordering import cancel, issuance
from star_operator.ordering.status import StatusRecorder


def _job(body: kopf.Body, retry: int, logger: kopf.Logger) -> issuance.OrderJob:
    cfg = config.get()
    meta = body.get("metadata") or {}
    recorder = StatusRecorder(meta["namespace"], meta["name"], body.get("status"),
                              meta.get("generation"), events.poster(body), logger)
    return issuance.OrderJob(namespace=meta["namespace"], name=meta["name"], body=body,
                             recorder=recorder, default_namespace=cfg.namespace, retry=retry,
                             backoff_min=cfg.backoff_min, backoff_max=cfg.backoff_max)


@kopf.on.resume(c.GROUP, c.VERSION, c.STARORDER_PLURAL, id="reconcile")
@kopf.on.create(c.GROUP, c.VERSION, c.STARORDER_PLURAL, id="reconcile")
@kopf.on.update(c.GROUP, c.VERSION, c.STARORDER_PLURAL, id="reconcile")
async def reconcile(body: kopf.Body, retry: int, logger: kopf.Logger, **_: Any) -> None:
    """Run the issuance state machine as far as it goes; come back when it says so.

    The time bound is safe to hit anywhere: every step is recorded before the next begins.
    """
    cfg = config.get()
    job = _job(body, retry, logger)
    try:
        with transient.retried_later(job.delay()):
            async with limits.issuance_slot(), asyncio.timeout(cfg.issuance_timeout):
                await issuance.reconcile(job)
    except issuance.Retry as exc:
        raise kopf.TemporaryError(str(exc), delay=exc.delay) from exc
    except TimeoutError as exc:
        raise kopf.TemporaryError(f"issuance step exceeded {cfg.issuance_timeout}s",
                                  delay=cfg.backoff_min) from exc


@kopf.on.delete(c.GROUP, c.VERSION, c.STARORDER_PLURAL, id="cancel")
async def cancel_on_delete(body: kopf.Body, retry: int, logger: kopf.Logger, **_: Any) -> None:
    """The finalizer's job: cancel at the CA (or be forced), then honour secretPolicy."""
    job = _job(body, retry, logger)
    try:
        with transient.retried_later(job.delay()):
            await cancel.finalize_deletion(job, config.get().delete_backoff_max)
    except issuance.Retry as exc:
        raise kopf.TemporaryError(str(exc), delay=exc.delay) from exc

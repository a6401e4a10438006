"""StarOrder: thin kopf wiring around :mod:`star_operator.ordering`."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Iterable, Mapping
from typing import Any

import kopf

from star_operator import config, context, events
from star_operator.backoff import Backoff
from star_operator.handlers import csrtemplate, transient
from star_operator import constants as c
from star_operator.ordering import cancel, issuance, via_front_end
from star_operator.ordering.objects import WatchedTemplates
from star_operator.ordering.status import StatusRecorder
from star_operator.renewal import schedule
from star_operator.secrets import owner_lookup
from star_operator.series import loop as series_loop
from star_operator.series.timing import SeriesTiming


def _templates(kwargs: Mapping[str, Any]) -> Mapping[str, Iterable[Mapping[str, Any]]]:
    """kopf's index of CsrTemplates (:func:`~star_operator.handlers.csrtemplate.
    csrtemplates_by_name`), which kopf passes to every handler under its id (kopf's handler
    protocols take it through ``**kwargs``)."""
    return kwargs[csrtemplate.TEMPLATE_INDEX]


def _job(body: kopf.Body, retry: int, logger: kopf.Logger, ctx: context.OperatorContext,
         kwargs: Mapping[str, Any]) -> issuance.OrderJob:
    cfg = config.get()
    meta = body.get("metadata") or {}
    recorder = StatusRecorder(meta["namespace"], meta["name"], body.get("status"),
                              meta.get("generation"), events.poster(body), logger)
    return issuance.OrderJob(namespace=meta["namespace"], name=meta["name"], body=body,
                             recorder=recorder, default_namespace=cfg.namespace, retry=retry,
                             backoff=Backoff.from_config(cfg),
                             owner_exists=owner_lookup.exists,
                             templates=ctx.templates, issuers=ctx.issuers,
                             template_secrets=ctx.template_secrets,
                             handoff=ctx.staged_secrets,
                             objects=WatchedTemplates(_templates(kwargs)))


@kopf.on.resume(c.GROUP, c.VERSION, c.STARORDER_PLURAL, id="reconcile")
@kopf.on.create(c.GROUP, c.VERSION, c.STARORDER_PLURAL, id="reconcile")
@kopf.on.update(c.GROUP, c.VERSION, c.STARORDER_PLURAL, id="reconcile")
async def reconcile(body: kopf.Body, retry: int, logger: kopf.Logger, memo: kopf.Memo,
                    **kwargs: Any) -> None:
    """Run the issuance state machine as far as it goes; come back when it says so.

    The time bound is safe to hit anywhere: every step is recorded before the next begins.
    """
    cfg, ctx = config.get(), context.of(memo)
    job = _job(body, retry, logger, ctx, kwargs)
    try:
        with transient.retried_later(job.delay()):
            if cancel.cancel_requested(job.spec):
                await cancel.cancel_in_place(job, cfg.delete_backoff_max)
                return
            async with ctx.issuance_slots, asyncio.timeout(cfg.issuance_timeout):
                await (via_front_end.reconcile(job) if via_front_end.applies(job.spec)
                       else issuance.reconcile(job))
    except issuance.Retry as exc:
        raise kopf.TemporaryError(str(exc), delay=exc.delay) from exc
    except TimeoutError as exc:
        raise kopf.TemporaryError(f"issuance step exceeded {cfg.issuance_timeout}s",
                                  delay=cfg.backoff_min) from exc


@kopf.on.delete(c.GROUP, c.VERSION, c.STARORDER_PLURAL, id="cancel")
async def cancel_on_delete(body: kopf.Body, retry: int, logger: kopf.Logger, memo: kopf.Memo,
                           **kwargs: Any) -> None:
    """The finalizer's job: cancel at the CA (or be forced), then honour secretPolicy."""
    job = _job(body, retry, logger, context.of(memo), kwargs)
    try:
        with transient.retried_later(job.delay()):
            await cancel.finalize_deletion(job, config.get().delete_backoff_max)
    except issuance.Retry as exc:
        raise kopf.TemporaryError(str(exc), delay=exc.delay) from exc


def _emulated(status: kopf.Status, **_: Any) -> bool:
    return series_loop.is_emulated_and_valid(status)


@kopf.daemon(c.GROUP, c.VERSION, c.STARORDER_PLURAL, id="emulated-series", when=_emulated,
             cancellation_timeout=10.0)
async def emulated_series(body: kopf.Body, stopped: kopf.DaemonStopped, logger: kopf.Logger,
                          memo: kopf.Memo, **kwargs: Any) -> None:
    """An emulated STAR series: order each next certificate at its moment (series.loop)."""
    cfg = config.get()
    context_for = functools.partial(series_loop.template_context,
                                    series_timing=SeriesTiming.from_config(cfg),
                                    clock_skew=cfg.clock_skew, stopped=stopped)
    worker = series_loop.SeriesLoop(_job(body, 0, logger, context.of(memo), kwargs), body,
                                    context_for=context_for,
                                    backoff_timing=schedule.Timing.from_config(cfg))
    await worker.run(stopped)


@kopf.on.field(c.GROUP, c.VERSION, c.STARORDER_PLURAL, id="renew-requested",
               field=["metadata", "annotations", c.RENEW_ANNOTATION])
async def renew_requested(namespace: str | None, name: str, **_: Any) -> None:
    """``kubectl annotate starorder X renew.star.operator.dev/requested-at=$(date +%s)``:
    order the next certificate of an emulated series now."""
    if namespace:  # always set: StarOrders are namespaced (kopf types it optional)
        series_loop.wake(namespace, name)

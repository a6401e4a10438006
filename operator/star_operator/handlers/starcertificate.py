"""StarCertificate: a daemon per object keeps its Secret current (see renewal.loop)."""

from __future__ import annotations

from typing import Any

import kopf

from star_operator import config, context, events, metrics
from star_operator import constants as c
from star_operator.renewal import loop, schedule, wakeups
from star_operator.secrets import owner_lookup


@kopf.daemon(c.GROUP, c.VERSION, c.STARCERTIFICATE_PLURAL, id="keep-current",
             cancellation_timeout=10.0)
async def keep_current(namespace: str | None, name: str, body: kopf.Body,
                       stopped: kopf.DaemonStopped, logger: kopf.Logger, memo: kopf.Memo,
                       **_: Any) -> None:
    """Fetch when due, verify, write the Secret; until the object goes away."""
    if not namespace:  # never: StarCertificates are namespaced (kopf types it optional)
        return
    cfg = config.get()
    worker = loop.CertificateLoop(namespace, name, body, post_event=events.poster(body),
                                  logger=logger, timing=schedule.Timing.from_config(cfg),
                                  owner_exists=owner_lookup.exists, clock_skew=cfg.clock_skew,
                                  handoff=context.of(memo).staged_secrets)
    await worker.run(stopped)


@kopf.on.update(c.GROUP, c.VERSION, c.STARCERTIFICATE_PLURAL, field="spec", id="spec-changed")
async def spec_changed(namespace: str | None, name: str, **_: Any) -> None:
    """A new URL, key or CA bundle: fetch now rather than at the old schedule."""
    if namespace:  # always set: StarCertificates are namespaced (kopf types it optional)
        wakeups.wake(namespace, name)


@kopf.on.delete(c.GROUP, c.VERSION, c.STARCERTIFICATE_PLURAL, id="forget", optional=True)
async def forget(namespace: str | None, name: str, **_: Any) -> None:
    """Drop per-object metric series (the Secret stays: it belongs to the StarOrder policy)."""
    if namespace:
        metrics.forget_certificate(namespace, name)

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


#: Where the per-object memo keeps the spec this handler saw last.
SPEC_SEEN = "star_operator.spec_seen"


@kopf.on.event(c.GROUP, c.VERSION, c.STARCERTIFICATE_PLURAL, id="spec-changed")
async def spec_changed(event: kopf.RawEvent, namespace: str | None, name: str,
                       body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """A new URL, key or CA bundle: fetch now rather than at the old schedule. Gone: drop the
    per-object metric series (the Secret stays: it belongs to the StarOrder policy).

    A watch-event handler, not kopf's ``on.update``/``on.delete``: with either, kopf keeps the
    spec it last handled in an annotation of every StarCertificate (1.2 KB of each object, in
    each of its writes and watch events, and a PATCH after each spec edit), where comparing
    with the spec this handler saw last (the per-object ``memo``) is all a wake-up needs.
    """
    if not namespace:  # never: StarCertificates are namespaced (kopf types it optional)
        return
    if event.get("type") == "DELETED":
        metrics.forget_certificate(namespace, name)
        return
    seen = loop.spec_fingerprint(body.get("spec") or {})
    last, memo[SPEC_SEEN] = memo.get(SPEC_SEEN), seen
    if last is not None and last != seen:
        wakeups.wake(namespace, name)

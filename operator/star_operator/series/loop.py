"""The per-StarOrder daemon of an emulated series: wait for the moment, renew, back off.

One asyncio task per emulated StarOrder (kopf daemon). Its record is ``status.series``, read
once at start through the StarOrder's :class:`~star_operator.ordering.status.StatusRecorder`
(which then holds what each PATCH returned), so a restarted operator resumes the plan, and an
in-flight renewal (``series.next``) is continued rather than ordered again.

Collaborators are passed in: ``context_for`` builds the template, Secrets and ACME client for an
attempt, ``renew``/``settle`` run and record one renewal (:mod:`.renewal`), ``clock`` is the
time: the decisions (when, forced, backoff, Retry-After, end-date) are unit-tested with fakes.
"""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from cryptography import x509

from star_operator import acme, k8s, metrics, pem, timeutil
from star_operator import constants as c
from star_operator import reasons
from star_operator.dns01 import Dns01Error
from star_operator.errors import ReasonedError
from star_operator.ordering import (accounts, capabilities, delegated, failures, readiness,
                                    request)
from star_operator.ordering.issuance import OrderJob, Retry, load_policy
from star_operator.renewal import schedule, wakeups
from star_operator.secrets import payload
from star_operator.series import renewal, timing

ContextFactory = Callable[[OrderJob], Awaitable[renewal.SeriesContext]]
Clock = Callable[[], datetime.datetime]
Renew = Callable[[renewal.SeriesContext], Awaitable[tuple[Any, acme.Order]]]
Settle = Callable[..., Awaitable[dict[str, Any]]]

#: What a renewal attempt can fail with and survive (the current certificate is kept).
RENEWAL_FAILURES = (ReasonedError, acme.AcmeError, Dns01Error, Retry, ValueError,
                    *k8s.TRANSIENT_ERRORS)

#: Wake-up keys of series loops; ``:`` cannot occur in an object name, so these never meet a
#: StarCertificate's (which shares its StarOrder's name).
WAKE_PREFIX = "series:"

#: A CA's Retry-After on a failed renewal (rateLimited, 429, 503) is honoured up to a day:
#: asking earlier only earns another refusal, asking much later would let the series lapse.
RETRY_AFTER_CAP = 86400.0


def wake(namespace: str, name: str) -> None:
    """Have the series loop of a StarOrder decide again now (its renew annotation changed)."""
    wakeups.wake(namespace, WAKE_PREFIX + name)


async def template_context(job: OrderJob, *, series_timing: timing.SeriesTiming,
                           clock_skew: float, stopped: Any) -> renewal.SeriesContext:
    """The production :data:`ContextFactory`: the CsrTemplate the order was placed under, its
    Secrets and cached ACME client, and the order's request as recorded."""
    ordered = job.recorder.get("ordered") or {}
    spec = {**job.spec, **ordered}
    policy = await load_policy(job, spec["csrTemplateName"])
    material = await accounts.load_material(policy, store=job.material_store)
    client = await accounts.client_for(job.templates, policy, material)
    req = request.build_request(spec, timeutil.utcnow(), job.recorder.get("endDate"))
    return renewal.SeriesContext(job=job, policy=policy, material=material, client=client,
                                 req=req, timing=series_timing, clock_skew=clock_skew,
                                 stopped=stopped, csr=delegated.ordered_csr(job.spec, ordered))


def renew_requested(body: Mapping[str, Any]) -> str | None:
    """The value of the renew annotation (None when unset)."""
    value = ((body.get("metadata") or {}).get("annotations") or {}).get(c.RENEW_ANNOTATION)
    return str(value) if value else None


def is_emulated_and_valid(status: Mapping[str, Any]) -> bool:
    """The daemon's filter: only emulated series past their first certificate."""
    return status.get("mode") == capabilities.EMULATED and status.get("phase") == c.Phase.VALID


class SeriesLoop:
    """Drives one emulated series; ``body`` is kopf's live view of the StarOrder."""

    def __init__(self, job: OrderJob, body: Mapping[str, Any], *,
                 context_for: ContextFactory, backoff_timing: schedule.Timing,
                 clock: Clock = timeutil.utcnow, renew: Renew = renewal.renew,
                 settle: Settle = renewal.settle) -> None:
        self.job, self.body = job, body
        self.context_for = context_for
        self.backoff_timing = backoff_timing
        self.clock = clock
        self.renew, self.settle = renew, settle
        #: What the last renewal used and installed, so that ARI re-checks cost no API reads.
        self._ctx: renewal.SeriesContext | None = None
        self._leaf: x509.Certificate | None = None
        #: The next ARI re-check when the window did not move (not worth a status write).
        self._check_at: datetime.datetime | None = None

    @property
    def series(self) -> dict[str, Any]:
        return dict(self.job.recorder.get("series") or {})

    async def run(self, stopped: Any) -> None:
        """Decide, sleep, repeat, until kopf stops the daemon (deletion, or not Valid).

        The sleep also ends when kopf sets ``stopped``, so deletion and shutdown are not held
        up to kopf's cancellation timeout.
        """
        key = WAKE_PREFIX + self.job.name
        try:
            while not stopped:
                delay = await self.step()
                if stopped:
                    break
                woken = asyncio.ensure_future(wakeups.sleep(self.job.namespace, key, delay))
                halted = asyncio.ensure_future(stopped.wait(delay))
                _, pending = await asyncio.wait({woken, halted},
                                                return_when=asyncio.FIRST_COMPLETED)
                for task in pending:
                    task.cancel()
        finally:
            wakeups.forget(self.job.namespace, key)

    async def step(self) -> float | None:
        """One decision: seconds until the next one (None: nothing until woken)."""
        rec, series, now = self.job.recorder, self.series, self.clock()
        if not is_emulated_and_valid(rec.status):
            return None
        retry_at = timeutil.parse_time(series.get("retryAt"))
        if retry_at is not None and retry_at > now:
            return (retry_at - now).total_seconds()  # backing off, forced or not
        wanted = renew_requested(self.body)
        forced = wanted is not None and wanted != series.get("renewRequest")
        if forced or series.get("next"):
            return await self._forced(wanted, now) if forced else await self._renew(now, None)
        due = timeutil.parse_time(series.get("renewAt"))
        if due is None:
            return None  # the series reached its end-date
        check = self._check_at or timeutil.parse_time(series.get("ariCheckAt"))
        if check is not None and check < due:
            if check <= now:
                await self._recheck_window(now)
                return 0.0
            return (check - now).total_seconds()
        if due > now:
            return (due - now).total_seconds()
        return await self._renew(due, None)

    async def _forced(self, wanted: str | None, now: datetime.datetime) -> float | None:
        """A renew annotation: order now, unless the end-date has passed."""
        end = timeutil.parse_time(self.job.recorder.get("endDate"))
        if end is not None and now >= end:
            self.job.recorder.post_event(
                "Warning", "RenewRefused", f"{c.RENEW_ANNOTATION}: the StarOrder's end-date "
                                           f"{timeutil.format_time(end)} has passed; no "
                                           "certificate is ordered after it")
            await self._record(renewRequest=wanted)
            return None
        return await self._renew(now, wanted)

    async def _record(self, **fields: Any) -> None:
        await renewal.record_series(self.job.recorder, **fields)

    async def _current_leaf(self) -> x509.Certificate | None:
        """The leaf the Secret serves, if it is the one the series recorded (read once per
        daemon; after that the loop knows what it installed)."""
        if self._leaf is None:
            secret = await k8s.get_secret(self.job.namespace, self.job.spec["secretName"])
            chain = payload.unb64(((secret or {}).get("data") or {}).get(c.TLS_CRT))
            self._leaf = pem.load_chain(chain)[0] if chain else None
        if self._leaf is not None and format(self._leaf.serial_number, "x") == \
                self.series.get("serial"):
            return self._leaf
        return None

    async def _recheck_window(self, now: datetime.datetime) -> None:
        """Ask the CA again (its Retry-After passed); a new window means a new moment.

        Cheap by design, as it runs several times per certificate: one unauthenticated GET at
        the CA, with the client of the last renewal and the leaf the loop installed; the status
        is written only when the window moved (the next re-check time lives in memory: after a
        restart the first decision simply asks once more).
        """
        try:
            ctx = self._ctx or await self.context_for(self.job)
            self._ctx = ctx
            leaf = await self._current_leaf()
            if leaf is None:
                self._check_at = None
                await self._record(ariCheckAt=None)
                return
            window, retry_after, cid = await renewal.window_of(ctx, leaf)
        except RENEWAL_FAILURES as exc:
            self.job.recorder.logger.warning("ARI re-check failed: %s", exc)
            lifetime = datetime.timedelta(seconds=int(self.series.get("issuedLifetime") or 60))
            self._check_at = timing.ari_recheck(now, None, lifetime)  # later; moment kept
            return
        fields = renewal.plan_fields(leaf, window, retry_after, cid, now, ctx)
        if fields["window"] == self.series.get("window"):  # same window: keep the moment
            self._check_at = timeutil.parse_time(fields["ariCheckAt"])
            return
        self._check_at = None
        self.job.recorder.post_event(
            "Normal", "RenewalWindowChanged",
            f"the CA moved the renewal window to {fields['window']}; next certificate "
            f"ordered at {fields['renewAt']}")
        await self._record(**fields)

    async def _renew(self, due: datetime.datetime, wanted: str | None) -> float:
        """Order, validate, finalize, install the next certificate; 0 on success (re-plan)."""
        try:
            ctx = await self.context_for(self.job)  # fresh: the template may have changed
            cert, order = await self.renew(ctx)
        except RENEWAL_FAILURES as exc:
            return await self._failed(exc)
        series = await self.settle(ctx, cert, order, renewed=True)
        self._ctx, self._leaf, self._check_at = ctx, getattr(cert, "leaf", None), None
        if wanted is not None:
            await self._record(renewRequest=wanted)
        metrics.series_renewal_lag.observe(max(0.0, (self.clock() - due).total_seconds()))
        n, secret = series.get("certificates"), self.job.spec["secretName"]
        renew_at = series.get("renewAt") or "never (end-date)"
        message = (f"emulated STAR series: certificate {n} (serial {series.get('serial')}) in "
                   f"Secret {secret}; next ordered at {renew_at} "
                   f"({series.get('renewBasis')})")
        if series.get("runsPastEndDate"):
            message += ("; the CA cannot shorten it, so this last certificate runs past the "
                        "end-date")
        self.job.recorder.post_event("Normal", "Renewed", message)
        await self.job.recorder.ready(True, readiness.ISSUED, message, lastError=None)
        return 0.0

    async def _failed(self, exc: BaseException) -> float:
        """Keep the current certificate, say why, and wait: longer each time, never less
        than the CA's Retry-After (rate limits), so a fleet of orders cannot storm the CA."""
        if isinstance(exc, ReasonedError):  # CycleError, CaSettingsError
            reason, message = exc.reason, exc.message
        elif isinstance(exc, (acme.AcmeError, Dns01Error)):
            reason, message = failures.classify_order_error(exc)
        else:
            reason, message = reasons.failure_of(exc), str(exc)
        series = self.series
        attempts = int(series.get("failures") or 0) + 1
        life = datetime.timedelta(seconds=int(series.get("issuedLifetime") or 0)) or None
        delay = self.backoff_timing.backoff.for_lifetime(life).delay(attempts)
        retry_after = getattr(exc, "retry_after", None)
        if retry_after:
            delay = max(delay, min(retry_after, RETRY_AFTER_CAP))
        retry_at = self.clock() + datetime.timedelta(seconds=delay)
        await self._record(failures=attempts, lastError=f"{reason}: {message}",
                           retryAt=timeutil.format_time(retry_at))
        not_after = timeutil.parse_time(series.get("notAfter"))
        valid = not_after is not None and not_after > self.clock()
        await self.job.recorder.ready(
            valid, "RenewalFailing" if valid else reason,
            f"serving serial {series.get('serial')} until {series.get('notAfter')}; renewal "
            f"failing (attempt {attempts}, retry in {delay:.0f}s): {reason}: {message}")
        if attempts & (attempts - 1) == 0:  # 1, 2, 4, 8...: visible but not a flood
            self.job.recorder.post_event("Warning", reason, f"{message} (attempt {attempts}; "
                                                            "current certificate kept)")
        return delay

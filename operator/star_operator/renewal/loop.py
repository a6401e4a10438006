"""The per-StarCertificate loop: sleep until due, run a fetch cycle, record the outcome.

Runs as a kopf daemon (one asyncio task per object, cheap at 1,000 objects). Scheduling state
lives in this loop, initialised from ``status`` at start: the status we patch comes back through
the watch only later, so re-reading it would make the loop act on stale times. Status is the
durable record (so a restarted operator resumes the schedule) and what humans read.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from star_operator import acme, conditions, events, k8s, metrics, timeutil
from star_operator import constants as c
from star_operator import reasons
from star_operator.constants import CertState
from star_operator.reasons import ProblemType
from star_operator.ordering import readiness
from star_operator.ordering.status import StatusOps, StatusPatch
from star_operator.renewal import schedule, wakeups
from star_operator.renewal.fetcher import CycleError, CycleResult, run_cycle
from star_operator.secrets.handoff import SecretHandoff
from star_operator.secrets import ownership
from star_operator.events import EventPoster

#: RFC 8739 §3.1.2/§3.3: the CA will not issue again; polling stops.
TERMINAL_PROBLEMS = {
    ProblemType.AUTO_RENEWAL_CANCELED: (
        CertState.CANCELED, "the STAR order was canceled at the CA; no further certificates "
                            "will be issued"),
    ProblemType.AUTO_RENEWAL_EXPIRED: (
        CertState.END_DATE_REACHED, "the STAR order reached its end-date; no further "
                                    "certificates will be issued"),
}
TERMINAL_STATES = (CertState.CANCELED, CertState.END_DATE_REACHED, CertState.EXPIRED)
RECOVERABLE = (CycleError, acme.AcmeError, *k8s.TRANSIENT_ERRORS, ValueError, TimeoutError)

#: One fetch cycle (:func:`~star_operator.renewal.fetcher.run_cycle`'s signature; a fake CA and
#: Secret store bound in in unit tests).
Cycle = Callable[..., Awaitable[CycleResult]]
#: Waits up to ``seconds`` (None: until woken) for the object's wake-up; True if woken early
#: (:func:`star_operator.renewal.wakeups.sleep`).
Sleep = Callable[[str, str, float | None], Awaitable[bool]]
#: Ends that wait early (:func:`star_operator.renewal.wakeups.wake`).
Wake = Callable[[str, str], None]


class Stopped(Protocol):
    """kopf's ``stopped`` flag of a daemon (``kopf.DaemonStopped``): true once kopf wants the
    daemon gone; ``await stopped.wait()`` returns then."""

    def __bool__(self) -> bool: ...

    def wait(self) -> Awaitable[Any]: ...


def _mirror_key(cond: Mapping[str, Any] | None) -> tuple[str, str] | None:
    """What of Ready the owner StarOrder reflects: the status, and the reason when False."""
    if cond is None:
        return None
    return cond["status"], "" if cond["status"] == conditions.TRUE else cond.get("reason", "")


@dataclasses.dataclass
class LoopState:
    """What the loop remembers between cycles."""

    next_due: datetime.datetime | None = None
    failures: int = 0
    serial: str | None = None
    rotations: int = 0
    not_before: datetime.datetime | None = None
    not_after: datetime.datetime | None = None
    state: str = CertState.PENDING
    terminal_for: str | None = None
    conditions: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    #: (status, reason) of Ready last copied to the owning StarOrder in this process.
    mirrored: tuple[str, str] | None = None
    #: Successful fetches in a row that brought the certificate already installed.
    unchanged: int = 0
    #: (spec fingerprint, last successful cycle): what this process verified and installed.
    installed: tuple[str, CycleResult] | None = None

    @classmethod
    def from_status(cls, status: Mapping[str, Any], spec_fp: str) -> LoopState:
        """Resume from what a previous operator run recorded."""
        state = status.get("state") or CertState.PENDING
        terminal = state in TERMINAL_STATES
        return cls(next_due=timeutil.parse_time(status.get("nextFetch")),
                   failures=int(status.get("failures") or 0), serial=status.get("serial"),
                   rotations=int(status.get("rotations") or 0),
                   not_before=timeutil.parse_time(status.get("notBefore")),
                   not_after=timeutil.parse_time(status.get("notAfter")), state=state,
                   terminal_for=spec_fp if terminal else None,
                   conditions=list(status.get("conditions") or []))

    @property
    def lifetime(self) -> datetime.timedelta | None:
        if self.not_before and self.not_after:
            return self.not_after - self.not_before
        return None


def spec_fingerprint(spec: Mapping[str, Any]) -> str:
    """Identity of a spec, to notice edits that should restart a stopped loop. A digest, not
    the spec's JSON: a few are held per StarCertificate for its whole life (the loop's, the
    watch handler's memo), and the spec is 1-2 KB with its CA bundle."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()


class CertificateLoop:
    """Drives one StarCertificate; ``body`` is kopf's live view of the object."""

    def __init__(self, namespace: str, name: str, body: Mapping[str, Any], *,
                 post_event: EventPoster, logger: logging.Logger | logging.LoggerAdapter[Any],
                 timing: schedule.Timing, owner_exists: ownership.OwnerLookup,
                 clock_skew: float = 5.0, clock: Callable[[], datetime.datetime] = timeutil.utcnow,
                 cycle: Cycle = run_cycle, patch_status: StatusPatch = k8s.patch_status,
                 patch_ops: StatusOps = k8s.json_patch_status,
                 poster_for: Callable[[Mapping[str, Any]], EventPoster] = events.poster,
                 sleep: Sleep = wakeups.sleep, wake: Wake = wakeups.wake,
                 rotated_event_window: float = events.AGGREGATION_WINDOW,
                 handoff: SecretHandoff | None = None) -> None:
        """``clock``, ``cycle``, ``patch_status``/``patch_ops``, ``poster_for``, ``sleep`` and
        ``wake`` are the loop's outside world (the process's clock, the CA and Secrets, the API
        server's status merge and JSON patches, Events on the owning StarOrder, the wake-ups);
        unit tests pass fakes. ``Rotated`` Events are at most one per
        ``rotated_event_window`` seconds (:class:`~star_operator.events.Throttle`).
        ``handoff``: where the owning StarOrder left the Secret it staged the key in, for the
        first cycle (:mod:`star_operator.secrets.handoff`)."""
        self.namespace, self.name = namespace, name
        self.clock, self.cycle = clock, cycle
        self.patch_status, self.patch_ops = patch_status, patch_ops
        self.sleep, self.wake, self.poster_for = sleep, wake, poster_for
        self.body = body
        #: The Secret is written as the owning StarOrder, or as this StarCertificate if none.
        self.claim = ownership.Claim(ownership.certificate_claimant(body), owner_exists)
        self.post_event = post_event
        self.logger = logger
        self.timing = timing
        self.clock_skew = clock_skew
        self.handoff = handoff
        self.rotated_events = events.Throttle(rotated_event_window,
                                              clock=lambda: self.clock().timestamp())
        self.state = LoopState.from_status(body.get("status") or {}, self._spec_fp())
        # what a previous run recorded was mirrored then (the StarOrder handler re-derives
        # its Ready on resume), so only changes from here on are copied
        self.state.mirrored = _mirror_key(conditions.get_condition(self.state.conditions,
                                                                   conditions.READY))

    def _spec(self) -> dict[str, Any]:
        return dict(self.body.get("spec") or {})

    def _spec_fp(self) -> str:
        return spec_fingerprint(self.body.get("spec") or {})

    async def run(self, stopped: Stopped) -> None:
        """Loop until kopf stops the daemon (object deleted or operator exiting). The wait in
        progress is woken when ``stopped`` is set, so the daemon ends at once: otherwise kopf
        cancels it only after its own delay ("Daemon ... is cancelled. Will escalate."), which
        held every StarCertificate's deletion for about 5 s. A fetch in progress finishes."""
        waker = asyncio.ensure_future(self._wake_when(stopped))
        try:
            while not stopped:
                await self.step()
        finally:
            waker.cancel()
            wakeups.forget(self.namespace, self.name)

    async def _wake_when(self, stopped: Stopped) -> None:
        await stopped.wait()
        self.wake(self.namespace, self.name)

    async def step(self) -> None:
        """One iteration: wait if not due, otherwise fetch once and record the outcome."""
        now = self.clock()
        st = self.state
        if st.terminal_for is not None:
            if st.terminal_for == self._spec_fp():
                await self._wait_terminal(now)
                return
            st.terminal_for, st.next_due = None, None  # spec edited: start over
        if st.next_due is not None and st.next_due > now:
            if await self.sleep(self.namespace, self.name, (st.next_due - now).total_seconds()):
                st.next_due = None  # spec changed: fetch now
            return
        await self.fetch_once()

    async def fetch_once(self) -> None:
        """Run one cycle and record success, a terminal answer or a failure."""
        spec = self._spec()
        st, spec_fp = self.state, spec_fingerprint(spec)
        installed = st.installed[1] if st.installed and st.installed[0] == spec_fp else None
        st.installed = None  # after a failure or an edit, the next cycle checks everything
        handed = (self.handoff.take(self.namespace, spec.get("secretName") or "")
                  if self.handoff is not None else None)
        try:
            result = await self.cycle(self.namespace, self.name, spec, claim=self.claim,
                                      clock_skew=self.clock_skew, installed=installed,
                                      handed=handed)
        except acme.AcmeProblem as problem:
            kind = ProblemType.of(problem)
            if kind in TERMINAL_PROBLEMS:
                await self._terminal(*TERMINAL_PROBLEMS[kind], problem=problem)
            else:
                await self._failure(reasons.problem_reason(problem), str(problem))
        except CycleError as exc:
            await self._failure(exc.reason, exc.message)
        except RECOVERABLE as exc:
            await self._failure(reasons.failure_of(exc), str(exc) or repr(exc))
        else:
            st.installed = (spec_fp, result.kept())
            await self._success(result, spec)

    # ------------------------------------------------------------------------ outcomes

    async def _success(self, result: CycleResult, spec: Mapping[str, Any]) -> None:
        st, cert = self.state, result.certificate
        now = self.clock()
        new_serial = cert.serial != st.serial
        recovered = st.failures > 0
        end_date = timeutil.parse_time(spec.get("endDate"))
        fetched = schedule.Fetched(cert.not_before, cert.not_after, result.fetched.fresh_until)
        st.unchanged = 0 if new_serial else st.unchanged + 1
        st.next_due = schedule.next_fetch(now, fetched, changed=new_serial, end_date=end_date,
                                          timing=self.timing, unchanged=st.unchanged)
        st.failures, st.serial = 0, cert.serial
        st.not_before, st.not_after = cert.not_before, cert.not_after
        rotated = new_serial and result.secret_changed
        if rotated:
            st.rotations += 1
            metrics.count_rotation(self.namespace, self.name)
        final = st.next_due is None
        if final:
            st.terminal_for = self._spec_fp()
        state = CertState.END_DATE_REACHED if final else CertState.CURRENT
        self._export_metrics()
        if not (new_serial or recovered or state != st.state):
            return  # nothing a reader of status would miss
        st.state = state
        msg = (f"serving serial {cert.serial}, valid until "
               f"{timeutil.format_time(cert.not_after)}")
        if final:
            msg += "; last certificate of the STAR order (end-date), polling stopped"
        owner_told = await self._patch(
            ready=True, reason="FinalCertificate" if final else "Current", message=msg,
            serial=cert.serial,
            notBefore=timeutil.format_time(cert.not_before),
            notAfter=timeutil.format_time(cert.not_after), dnsNames=list(cert.dns_names),
            lastFetch=timeutil.format_time(now), rotations=st.rotations, failures=0,
            lastError=None)
        if rotated and owner_told:
            # the owner's Ready changed with this certificate (its first, or the first after
            # a failure), and that write posted the owner's Event: one Event, not two
            self.rotated_events.reported_elsewhere()
        elif rotated:
            self._report_rotation(spec["secretName"], cert.serial, cert.not_after)

    def _report_rotation(self, secret: str, serial: str, not_after: datetime.datetime) -> None:
        """A Rotated Event, unless one was posted within the window (``status.rotations``
        counts every rotation; the next Event says how many it stands for)."""
        count = self.rotated_events.occurred()
        if count:
            folded = f"; {count} rotations since the last Rotated Event" if count > 1 else ""
            self.post_event("Normal", "Rotated",
                            f"Secret {secret} now holds serial {serial} "
                            f"(notAfter {timeutil.format_time(not_after)}){folded}")

    async def _failure(self, reason: str, message: str) -> None:
        st = self.state
        now = self.clock()
        st.failures += 1
        delay = self.timing.backoff.for_lifetime(st.lifetime).delay(st.failures)
        st.next_due = now + datetime.timedelta(seconds=delay)
        metrics.fetch_errors.labels(self.namespace, self.name, reason).inc()
        self.logger.warning("fetch failed (%s, attempt %d, retry in %.1fs): %s",
                            reason, st.failures, delay, message)
        valid = st.not_after is not None and st.not_after > now
        if valid:
            ready_reason = "RenewalFailing"
            msg = (f"serving serial {st.serial} until {timeutil.format_time(st.not_after)}; "
                   f"fetch failing: {reason}: {message}")
        else:
            ready_reason, msg = reason, message
        self._export_metrics(ready=valid)
        await self._patch(ready=valid, reason=ready_reason, message=msg,
                          failures=st.failures, lastError=f"{reason}: {message}",
                          state=st.state if valid else CertState.ERROR)
        if st.failures & (st.failures - 1) == 0:  # 1, 2, 4, 8...: visible but not a flood
            self.post_event("Warning", reason, f"{message} (attempt {st.failures}; "
                                               f"current certificate kept)")

    async def _terminal(self, state: str, message: str, problem: Exception) -> None:
        st = self.state
        st.state, st.next_due, st.terminal_for = state, None, self._spec_fp()
        st.failures = 0
        self._export_metrics(ready=False)
        await self._patch(ready=False, reason=state, message=f"{message} ({problem})",
                          state=state, nextFetch=None, failures=0, lastError=None)
        self.post_event("Warning" if state == CertState.CANCELED else "Normal", state, message)

    async def _wait_terminal(self, now: datetime.datetime) -> None:
        """Stopped: sleep until the last certificate expires (then say so) or the spec changes."""
        st = self.state
        if st.state != CertState.EXPIRED and st.not_after is not None and st.not_after <= now:
            st.state = CertState.EXPIRED
            self._export_metrics(ready=False)
            await self._patch(ready=False, reason=CertState.EXPIRED,
                              message=f"the last certificate expired at "
                                      f"{timeutil.format_time(st.not_after)}",
                              state=CertState.EXPIRED)
            return
        remaining = None
        if st.state != CertState.EXPIRED and st.not_after is not None:
            remaining = (st.not_after - now).total_seconds()
        await self.sleep(self.namespace, self.name, remaining)

    # ------------------------------------------------------------------------ plumbing

    async def _patch(self, *, ready: bool, reason: str, message: str, **fields: Any) -> bool:
        """Write status; a change of Ready is mirrored to the owning StarOrder. True if that
        mirror was written (with an Event on the StarOrder)."""
        st = self.state
        fields.setdefault("state", st.state)
        fields.setdefault("nextFetch", timeutil.format_time(st.next_due))
        cond = conditions.make_condition(conditions.READY, ready, reason, message,
                                         observed_generation=self._generation())
        st.conditions = conditions.set_condition(st.conditions, cond)
        fields["conditions"] = st.conditions
        fields["observedGeneration"] = self._generation()
        try:
            await self.patch_status(c.STARCERTIFICATE_PLURAL, self.namespace, self.name, fields)
        except k8s.NotFound:
            pass  # deleted meanwhile; kopf stops us shortly
        except k8s.TRANSIENT_ERRORS as exc:
            self.logger.warning("could not record status: %s", exc)
        return await self._mirror_ready(cond)

    def _owner_ref(self) -> Mapping[str, Any] | None:
        """The controlling StarOrder's reference (None for a standalone StarCertificate)."""
        return ownership.controlling_order(self.body)

    async def _mirror_ready(self, cond: Mapping[str, Any]) -> bool:
        """Copy a change of Ready to the owning StarOrder (with an Event there); True if
        written.

        Only on changes, so steady renewal costs no extra calls; a StarOrder must not stay
        Ready while its Secret cannot get a certificate. The certificate's own facts (serial,
        notAfter) are this StarCertificate's status only: copying notAfter to the StarOrder
        on every rotation was a third API request per renewal. The first Ready of a new
        StarCertificate also makes its StarOrder Valid (:class:`~star_operator.ordering.
        readiness.Promotion`); nothing mirrored yet, in this process or in status, says new.
        """
        key = _mirror_key(cond)
        ref = self._owner_ref()
        if ref is None or key == self.state.mirrored:
            return False
        owner = str(ref["name"])
        owner_body = {"apiVersion": ref.get("apiVersion"), "kind": ref.get("kind"),
                      "metadata": {"name": owner, "namespace": self.namespace,
                                   "uid": ref.get("uid")}}
        try:
            spec = self._spec()
            written = await readiness.mirror_to_order(
                self.namespace, owner, spec["secretName"], cond, self.poster_for(owner_body),
                promotion=readiness.Promotion(str(spec.get("starCertificateURL")), self.name),
                promote_first=self.state.mirrored is None, patch_ops=self.patch_ops)
            self.state.mirrored = key
            return written
        except k8s.TRANSIENT_ERRORS as exc:
            self.logger.warning("could not update StarOrder %s Ready: %s", owner, exc)
            return False

    def _generation(self) -> int | None:
        return (self.body.get("metadata") or {}).get("generation")

    def _export_metrics(self, ready: bool = True) -> None:
        st, series = self.state, metrics.objects.certificate(self.namespace, self.name)
        if st.not_after is not None:
            series.not_after = st.not_after.timestamp()
        if st.not_before is not None:
            series.not_before = st.not_before.timestamp()
        if st.next_due is not None:
            series.next_fetch = st.next_due.timestamp()
        series.ready = 1 if ready else 0

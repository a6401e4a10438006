"""The emulated series' decisions, with fakes for the record, the CA steps and the clock:
when to renew, forced renewals, the end-date, backoff with Retry-After, no Event flood."""
from __future__ import annotations

import datetime
import logging
from typing import Any

import pytest

from star_operator import acme
from star_operator.ordering.issuance import OrderJob
from star_operator.renewal.fetcher import CycleError
from star_operator.renewal.schedule import Timing
from star_operator.series import renewal
from star_operator.series.loop import SeriesLoop
from tests.unit.ordering.fakes import merge

T0 = datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)
ANNOTATION = "renew.star.operator.dev/requested-at"


def iso(t: datetime.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeRecorder:
    """The StatusRecorder interface, recording writes and Events instead of calling the API."""

    def __init__(self, status: dict[str, Any]) -> None:
        self.status = status
        self.writes: list[dict[str, Any]] = []
        self.events: list[tuple[str, str, str]] = []
        self.logger = logging.getLogger("test")

    @property
    def phase(self) -> str:
        return self.status.get("phase", "Pending")

    def get(self, key: str, default: Any = None) -> Any:
        return self.status.get(key, default)

    async def record(self, **fields: Any) -> None:
        self.writes.append(fields)
        merge(self.status, fields)

    async def ready(self, ready: bool, reason: str, message: str, *, event: str | None = None,
                    **fields: Any) -> None:
        await self.record(ready=[ready, reason, message], **fields)
        if event:
            self.post_event(event, reason, message)

    def post_event(self, type_: str, reason: str, message: str) -> None:
        self.events.append((type_, reason, message))


class Clock:
    def __init__(self, now: datetime.datetime) -> None:
        self.now = now

    def __call__(self) -> datetime.datetime:
        return self.now


class FakeSteps:
    """renew/settle stand-ins: each renewal yields the next serial, or raises what it is told."""

    def __init__(self, recorder: FakeRecorder, clock: Clock) -> None:
        self.recorder, self.clock = recorder, clock
        self.renewals = 0
        self.fail_with: list[BaseException] = []

    async def renew(self, ctx: Any) -> tuple[Any, Any]:
        if self.fail_with:
            raise self.fail_with.pop(0)
        self.renewals += 1
        return f"cert{self.renewals}", "order"

    async def settle(self, ctx: Any, cert: Any, order: Any, *, renewed: bool) -> dict[str, Any]:
        n = int(self.recorder.status["series"].get("certificates", 0)) + 1
        await renewal.record_series(self.recorder, certificates=n, serial=cert,
                                    renewAt=iso(self.clock.now + datetime.timedelta(seconds=60)),
                                    next=None, failures=0, retryAt=None, lastError=None)
        return self.recorder.status["series"]


def make(series: dict[str, Any], *, annotations: dict[str, str] | None = None,
         end: datetime.datetime = T0 + datetime.timedelta(days=1)):
    status = {"phase": "Valid", "mode": "Emulated", "endDate": iso(end),
              "series": {"certificates": 1, "serial": "cert0", "issuedLifetime": 90,
                         "notAfter": iso(T0 + datetime.timedelta(seconds=90)), **series}}
    recorder = FakeRecorder(status)
    body = {"metadata": {"annotations": annotations or {}}, "spec": {"secretName": "s"}}
    job = OrderJob(namespace="ns", name="web", body=body, recorder=recorder,  # type: ignore
                   default_namespace="star-operator")
    clock = Clock(T0)
    steps = FakeSteps(recorder, clock)

    async def context_for(job: OrderJob) -> Any:
        return "ctx"

    loop = SeriesLoop(job, body, context_for=context_for, clock=clock, renew=steps.renew,
                      settle=steps.settle, backoff_timing=Timing(backoff_min=1, backoff_max=600))
    return loop, recorder, steps, clock


async def test_waits_until_the_planned_moment() -> None:
    loop, _, steps, _ = make({"renewAt": iso(T0 + datetime.timedelta(seconds=40))})
    assert await loop.step() == 40
    assert steps.renewals == 0


async def test_renews_when_due_and_says_so() -> None:
    loop, rec, steps, clock = make({"renewAt": iso(T0)})
    clock.now = T0 + datetime.timedelta(seconds=2)
    assert await loop.step() == 0.0
    assert steps.renewals == 1 and rec.status["series"]["certificates"] == 2
    assert [e[1] for e in rec.events] == ["Renewed"]
    assert rec.status["ready"][0] is True
    assert await loop.step() == 60  # the new plan


async def test_not_emulated_or_not_valid_does_nothing() -> None:
    loop, rec, steps, _ = make({"renewAt": iso(T0)})
    rec.status["phase"] = "Canceling"
    assert await loop.step() is None and steps.renewals == 0


async def test_final_certificate_waits_for_nothing() -> None:
    loop, _, steps, _ = make({"final": True})
    assert await loop.step() is None and steps.renewals == 0


async def test_forced_renewal_once_per_annotation_value() -> None:
    loop, rec, steps, _ = make({"renewAt": iso(T0 + datetime.timedelta(hours=1))},
                               annotations={ANNOTATION: "a"})
    assert await loop.step() == 0.0
    assert steps.renewals == 1 and rec.status["series"]["renewRequest"] == "a"
    assert await loop.step() == 60  # the same value again: the new certificate's plan
    assert steps.renewals == 1


async def test_forced_renewal_after_the_end_date_is_refused() -> None:
    loop, rec, steps, _ = make({"final": True}, annotations={ANNOTATION: "a"},
                               end=T0 - datetime.timedelta(seconds=1))
    assert await loop.step() is None
    assert steps.renewals == 0
    assert rec.events[0][:2] == ("Warning", "RenewRefused")
    assert rec.status["series"]["renewRequest"] == "a"  # not refused again and again


async def test_in_flight_renewal_is_continued_at_once() -> None:
    loop, _, steps, _ = make({"renewAt": iso(T0 + datetime.timedelta(hours=1)),
                              "next": {"csr": "x", "orderURL": "https://ca/o/1"}})
    assert await loop.step() == 0.0 and steps.renewals == 1


async def test_rate_limited_backs_off_at_least_retry_after_and_waits_it_out() -> None:
    loop, rec, steps, clock = make({"renewAt": iso(T0)})
    limited = acme.AcmeProblem("urn:ietf:params:acme:error:rateLimited", "too many", 429,
                               retry_after=120.0)
    steps.fail_with = [limited]
    delay = await loop.step()
    assert delay is not None and delay >= 120
    series = rec.status["series"]
    assert series["failures"] == 1 and "rateLimited" in series["lastError"]
    assert rec.status["ready"][:2] == [True, "RenewalFailing"]  # still serving
    clock.now = T0 + datetime.timedelta(seconds=30)  # woken early (e.g. an annotation)
    assert await loop.step() == pytest.approx(delay - 30, abs=1)
    assert steps.renewals == 0  # no storm
    clock.now = T0 + datetime.timedelta(seconds=delay + 1)
    assert await loop.step() == 0.0 and steps.renewals == 1
    assert "failures" in rec.status["series"] and rec.status["series"]["failures"] == 0


async def test_failures_grow_the_backoff_and_warn_on_powers_of_two() -> None:
    loop, rec, steps, clock = make({"renewAt": iso(T0)})
    steps.fail_with = [CycleError("OrderInvalid", "no") for _ in range(5)]
    delays = []
    for _ in range(5):
        delays.append(await loop.step())
        clock.now += datetime.timedelta(seconds=delays[-1] + 0.001)
    assert delays == sorted(delays) and delays[-1] > delays[0]
    warnings = [e for e in rec.events if e[0] == "Warning"]
    assert [w[2].split("attempt ")[1][0] for w in warnings] == ["1", "2", "4"]


async def test_expired_certificate_makes_a_failing_renewal_not_ready() -> None:
    loop, rec, steps, clock = make({"renewAt": iso(T0)})
    clock.now = T0 + datetime.timedelta(seconds=100)  # notAfter was T0 + 90 s
    steps.fail_with = [CycleError("OrderInvalid", "no")]
    await loop.step()
    assert rec.status["ready"][:2] == [False, "OrderInvalid"]


def _leaf(serial: int) -> Any:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "t")])
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(serial).not_valid_before(T0)
            .not_valid_after(T0 + datetime.timedelta(seconds=90)).sign(key, hashes.SHA256()))


def _with_ari(monkeypatch: pytest.MonkeyPatch, windows: list[Any]):
    """A loop whose current certificate has an ARI window, re-checked at T0 + 10 s."""
    from types import SimpleNamespace

    from star_operator.series.timing import SeriesTiming, Window
    first = {"start": iso(T0 + datetime.timedelta(seconds=60)),
             "end": iso(T0 + datetime.timedelta(seconds=75))}
    loop, rec, steps, clock = make({"renewAt": iso(T0 + datetime.timedelta(seconds=70)),
                                    "ariCheckAt": iso(T0 + datetime.timedelta(seconds=10)),
                                    "window": first, "serial": format(0x51, "x")})
    calls = []

    async def window_of(ctx: Any, leaf: Any) -> Any:
        calls.append(leaf.serial_number)
        start, end = windows.pop(0)
        return Window(T0 + datetime.timedelta(seconds=start),
                      T0 + datetime.timedelta(seconds=end)), 9.0, "cid"
    monkeypatch.setattr(renewal, "window_of", window_of)

    async def context_for(job: OrderJob) -> Any:
        return SimpleNamespace(req=SimpleNamespace(end_date=T0 + datetime.timedelta(days=1)),
                               timing=SeriesTiming(retry_after_min=1), rng=None)
    loop.context_for = context_for
    loop._leaf = _leaf(0x51)
    clock.now = T0 + datetime.timedelta(seconds=10)
    return loop, rec, steps, clock, calls


async def test_ari_recheck_with_the_same_window_writes_nothing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    loop, rec, steps, clock, calls = _with_ari(monkeypatch, [(60, 75), (60, 75)])
    assert await loop.step() == 0.0
    assert calls == [0x51] and rec.writes == [] and rec.events == []
    assert await loop.step() == pytest.approx(9.0)  # the CA's Retry-After, in memory
    clock.now += datetime.timedelta(seconds=9)
    await loop.step()
    assert len(calls) == 2 and rec.writes == [] and steps.renewals == 0


async def test_ari_window_moved_to_the_past_renews_now(monkeypatch: pytest.MonkeyPatch) -> None:
    loop, rec, steps, clock, calls = _with_ari(monkeypatch, [(8, 9)])  # revoked: in the past
    assert await loop.step() == 0.0
    assert [e[1] for e in rec.events] == ["RenewalWindowChanged"]
    assert rec.status["series"]["renewAt"] == iso(clock.now)
    assert await loop.step() == 0.0 and steps.renewals == 1

"""The StarCertificate renewal loop (renewal.loop.CertificateLoop) with fakes only: a fake clock
that moves when the loop sleeps, a fake STAR CA answering the star-certificate URL, a fake
Secret store (tests/unit/ordering/fakes.py) and a fake status sub-resource. The real fetch
cycle runs (fetcher.run_cycle: verify the chain, write the Secret), so a test sees the
certificate land in the Secret, the status and Events written, and when the loop fetches
again: due, backing off after failures, stopped by autoRenewalCanceled or the end-date."""

from __future__ import annotations

import asyncio
import datetime
import functools
import json
import logging
from typing import Any

import pytest

from star_operator import acme, reasons, timeutil
from star_operator import constants as c
from star_operator.acme.errors import ERROR_PREFIX
from star_operator.constants import CertState
from star_operator.renewal import fetcher, wakeups
from star_operator.renewal.loop import CertificateLoop
from star_operator.renewal.schedule import Timing
from star_operator.secrets import handoff, ownership, payload
from tests.unit.operator.op_pki import cert_pem, issue, key, key_pem
from tests.unit.ordering.fakes import Fakes, FakeSecrets, lookup

T0 = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
LIFETIME = datetime.timedelta(hours=1)
STAR_URL = "https://ca.test/acme/order/7/star"
NAME = "www.star.test"
ME = ownership.Owner(c.STARCERTIFICATE_KIND, "ns", "web", "uid-web")
#: The StarOrder that owns the StarCertificate in ``World(owned=True)``.
ORDER = ownership.Owner(c.STARORDER_KIND, "ns", "web", "uid-order")
#: No jitter: the planned moments are exact. Errors back off from 1 s (plus up to 10 %).
TIMING = Timing(jitter_max=0.0, backoff_min=1.0, backoff_max=600.0)


class Pki:
    """A root and a leaf key; :meth:`chain` issues a leaf valid from ``not_before``. Real time
    (T0) matters: the cycle verifies the chain at the process's clock."""

    def __init__(self) -> None:
        self.root_key, self.leaf_key = key(), key()
        self.root = issue("Root", self.root_key, None, self.root_key, ca=True,
                          not_before=T0 - datetime.timedelta(days=1),
                          lifetime=datetime.timedelta(days=30))

    def chain(self, not_before: datetime.datetime) -> str:
        leaf = issue(NAME, self.leaf_key, self.root, self.root_key, ca=False, names=[NAME],
                     not_before=not_before, lifetime=LIFETIME)
        return cert_pem(leaf).decode()


class Clock:
    """The loop's clock; sleeping moves it."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime.datetime:
        return self.now


class World:
    """Everything outside one StarCertificate's loop, recorded."""

    def __init__(self, *, end_date: datetime.datetime | None = None,
                 owned: bool = False, event_window: float = 600.0,
                 handed: handoff.SecretHandoff | None = None,
                 status: dict[str, Any] | None = None, order_phase: str = c.Phase.ORDERED
                 ) -> None:
        """``status``: the StarCertificate's as a previous run left it; ``order_phase``: the
        owning StarOrder's (Ordered: the StarCertificate was just created for it)."""
        self.pki, self.clock = Pki(), Clock()
        self.answers: list[acme.StarFetch | Exception] = []
        self.fetches: list[str] = []
        self.sleeps: list[float | None] = []
        self.wake_next = False
        self.record = Fakes({}, c.STARCERTIFICATE_PLURAL)
        self.status, self.events = self.record.status, self.record.events
        #: What was written to the owning StarOrder: ("merge"/"json", patch), and its Events.
        self.order_writes: list[tuple[str, Any]] = []
        self.order_events: list[tuple[str, str, str]] = []
        #: The owning StarOrder's status, which the JSON Patches apply to.
        self.order = Fakes({"phase": order_phase, "observedGeneration": 3})
        holder = ORDER if owned else ME
        self.secrets = FakeSecrets({
            "metadata": {"name": "tls", "namespace": "ns", "resourceVersion": "1",
                         "labels": payload.managed_labels(), "annotations": holder.annotations()},
            "type": "kubernetes.io/tls",
            "data": {c.STAGED_KEY: payload.b64(key_pem(self.pki.leaf_key))}})
        spec: dict[str, Any] = {"starCertificateURL": STAR_URL, "secretName": "tls",
                                "privateKeySecretRef": {"name": "tls", "key": c.TLS_KEY},
                                "dnsNames": [NAME], "issuerName": "t",
                                "caBundle": cert_pem(self.pki.root).decode()}
        if end_date is not None:
            spec["endDate"] = timeutil.format_time(end_date)
        self.body = {"apiVersion": c.API_VERSION, "kind": c.STARCERTIFICATE_KIND,
                     "metadata": {"namespace": "ns", "name": "web", "uid": "uid-web",
                                  "generation": 1}, "spec": spec}
        if status is not None:
            self.body["status"] = status
        if owned:
            self.body["metadata"]["ownerReferences"] = [{
                "apiVersion": c.API_VERSION, "kind": c.STARORDER_KIND, "name": "web",
                "uid": ORDER.uid, "controller": True}]
        self.loop = CertificateLoop(
            "ns", "web", self.body, post_event=self.record.post, logger=logging.getLogger("test"),
            timing=TIMING, owner_exists=lookup({ME, ORDER}), clock=self.clock,
            cycle=functools.partial(fetcher.run_cycle, store=self.secrets, fetch=self.fetch),
            patch_status=self.patch_status, patch_ops=self.patch_ops,
            poster_for=self.poster_for, sleep=self.sleep, rotated_event_window=event_window,
            handoff=handed)

    async def patch_status(self, plural: str, namespace: str | None, name: str,
                           fields: Any) -> dict[str, Any]:
        if plural == c.STARORDER_PLURAL:
            self.order_writes.append(("merge", dict(fields)))
            return {}
        return await self.record.patch_status(plural, namespace, name, fields)

    async def patch_ops(self, plural: str, namespace: str | None, name: str,
                        ops: Any) -> dict[str, Any]:
        self.order_writes.append(("json", list(ops)))
        return await self.order.json_patch_status(plural, namespace, name, ops)

    def poster_for(self, owner: Any) -> Any:
        assert owner["metadata"]["uid"] == ORDER.uid
        return lambda *event: self.order_events.append(event)

    def publish(self, not_before: datetime.datetime = T0 - datetime.timedelta(minutes=1)
                ) -> acme.StarFetch:
        """The CA's next answer: a new certificate from ``not_before`` (valid at the real
        time, which the cycle verifies at, whatever the loop's clock says)."""
        chain = self.pki.chain(not_before)
        answer = acme.StarFetch(chain, not_before, not_before + LIFETIME, None)
        self.answers.append(answer)
        return answer

    async def fetch(self, url: str, ca_pem: bytes) -> acme.StarFetch:
        self.fetches.append(url)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def sleep(self, namespace: str, name: str, seconds: float | None) -> bool:
        assert (namespace, name) == ("ns", "web")
        self.sleeps.append(seconds)
        if self.wake_next:
            self.wake_next = False
            return True
        if seconds is not None:
            self.clock.now += datetime.timedelta(seconds=seconds)
        return False

    def ready(self) -> tuple[str, str]:
        return self.record.ready()

    def secret_chain(self) -> str | None:
        data = self.secrets.secrets["tls"].get("data") or {}
        value = payload.unb64(data.get(c.TLS_CRT))
        return value.decode() if value else None


def _seconds(when: str) -> float:
    return (timeutil.parse_time(when) - T0).total_seconds()  # type: ignore[operator]


async def test_a_due_certificate_is_fetched_written_and_the_next_fetch_planned() -> None:
    w = World()
    chain = w.publish().chain_pem
    await w.loop.step()  # nothing recorded: due now
    assert w.fetches == [STAR_URL] and w.sleeps == []
    assert w.secret_chain() == chain
    assert payload.unb64(w.secrets.secrets["tls"]["data"][c.TLS_KEY]) == key_pem(w.pki.leaf_key)
    assert w.ready() == ("True", "Current")
    assert w.status["state"] == CertState.CURRENT and w.status["failures"] == 0
    assert w.status["notAfter"] == timeutil.format_time(T0 + LIFETIME - datetime.timedelta(
        minutes=1))
    # RFC 8739 §3.4: the next certificate is due by the half-life of this one
    assert _seconds(w.status["nextFetch"]) == 29 * 60
    assert [e[:2] for e in w.events] == [("Normal", "Rotated")]
    await w.loop.step()  # not due: sleeps exactly until then, fetches nothing
    assert w.sleeps == [29 * 60] and w.fetches == [STAR_URL]
    second = w.publish(T0 - datetime.timedelta(seconds=30))
    await w.loop.step()  # due now (the clock moved while sleeping)
    assert w.fetches == [STAR_URL, STAR_URL]
    assert w.status["rotations"] == 2 and w.secret_chain() == second.chain_pem
    assert [e[1] for e in w.events] == ["Rotated", "Rotated"]
    # the second rotation writes over the version the first left, without reading it again
    assert w.secrets.calls == ["get tls", "replace tls", "replace tls"]
    # and sets all of it: the remembered copy lacked the chain and the CA (fetcher.REWRITTEN)
    data = w.secrets.secrets["tls"]["data"]
    assert payload.unb64(data[c.CA_CRT]) == cert_pem(w.pki.root)
    assert payload.unb64(data[c.TLS_KEY]) == key_pem(w.pki.leaf_key)


async def test_the_remembered_secret_is_the_written_version_kept_as_compact_json() -> None:
    w = World()
    w.publish()
    await w.loop.step()
    assert w.loop.state.installed is not None
    kept = w.loop.state.installed[1].secret
    assert isinstance(kept, bytes) and b": " not in kept
    assert w.loop.state.installed[1].certificate.chain == []  # nor the parsed chain
    written = w.secrets.secrets["tls"]
    # the written version (its resourceVersion), without what the next write sets anyway
    assert json.loads(kept) == {**written, "data": {c.TLS_KEY: written["data"][c.TLS_KEY]}}
    assert set(written["data"]) == {c.TLS_KEY, *fetcher.REWRITTEN}
    key_b64 = w.secrets.secrets["tls"]["data"][c.TLS_KEY]
    assert key_b64 and key_b64 not in repr(w.loop.state)  # the key stays out of any repr
    with_fields = {**w.secrets.secrets["tls"], "metadata": {
        **w.secrets.secrets["tls"]["metadata"], "managedFields": [{"manager": "kubectl"}]}}
    assert "managedFields" not in json.loads(handoff.compact(with_fields) or b"")["metadata"]


async def test_a_first_cycle_writes_over_the_secret_its_star_order_handed_over_unread(
        ) -> None:
    handed = handoff.SecretHandoff()
    w = World(owned=True, handed=handed)
    handed.put("ns", "tls", w.secrets.secrets["tls"])  # as the StarOrder's staging left it
    chain = w.publish().chain_pem
    await w.loop.step()
    assert w.secret_chain() == chain and w.ready() == ("True", "Current")
    assert w.secrets.calls == ["replace tls"]
    assert handed.take("ns", "tls") is None  # taken once


async def test_a_handed_secret_written_since_is_read_again_before_the_first_write() -> None:
    handed = handoff.SecretHandoff()
    w = World(owned=True, handed=handed)
    handed.put("ns", "tls", w.secrets.secrets["tls"])
    w.secrets.edit("tls", extra=payload.b64(b"someone else's"))  # a new version since
    chain = w.publish().chain_pem
    await w.loop.step()
    assert w.secret_chain() == chain and w.ready() == ("True", "Current")
    assert w.secrets.calls == ["replace tls", "get tls", "replace tls"]  # 409, read, write
    assert w.secrets.secrets["tls"]["data"]["extra"] == payload.b64(b"someone else's")


async def test_a_key_staged_since_the_last_write_is_read_before_the_next_rotation() -> None:
    w = World()
    w.publish()
    await w.loop.step()
    await w.loop.step()  # sleeps until due
    w.pki.leaf_key = key()  # a new key, staged in the Secret by someone else meanwhile
    w.secrets.edit("tls", **{c.STAGED_KEY: payload.b64(key_pem(w.pki.leaf_key))})
    third = w.publish(T0 - datetime.timedelta(seconds=30))
    await w.loop.step()
    assert w.ready() == ("True", "Current") and w.secret_chain() == third.chain_pem
    assert payload.unb64(w.secrets.secrets["tls"]["data"][c.TLS_KEY]) == key_pem(w.pki.leaf_key)
    # the remembered version's key does not match the new chain: read, verify, write
    assert w.secrets.calls == ["get tls", "replace tls", "get tls", "replace tls"]
    assert c.STAGED_KEY not in w.secrets.secrets["tls"]["data"]


async def test_a_secret_written_by_someone_else_is_read_again_and_its_fields_kept() -> None:
    w = World()
    w.publish()
    await w.loop.step()
    await w.loop.step()
    w.secrets.edit("tls", extra=payload.b64(b"someone else's"))  # same key, a new version
    third = w.publish(T0 - datetime.timedelta(seconds=30))
    await w.loop.step()
    assert w.ready() == ("True", "Current") and w.secret_chain() == third.chain_pem
    # the PUT over the remembered version is refused (409): read, verify again, write
    assert w.secrets.calls == ["get tls", "replace tls", "replace tls", "get tls",
                               "replace tls"]
    assert w.secrets.secrets["tls"]["data"]["extra"] == payload.b64(b"someone else's")


async def test_a_secret_deleted_under_the_loop_is_not_recreated_from_the_remembered_copy(
        ) -> None:
    """Deleting the Secret takes its key with it (and frees the name for another claimant):
    the loop must not put the key it remembers back."""
    w = World()
    w.publish()
    await w.loop.step()
    await w.loop.step()
    del w.secrets.secrets["tls"]
    w.publish(T0 - datetime.timedelta(seconds=30))
    await w.loop.step()
    assert "tls" not in w.secrets.secrets
    assert w.secrets.calls == ["get tls", "replace tls", "replace tls", "get tls"]
    assert w.ready() == ("True", "RenewalFailing") and "KeyMissing" in w.status["lastError"]


async def test_rotations_within_the_event_window_are_folded_into_the_next_rotated_event(
        ) -> None:
    """Rotations at 0, 1740, 1771 and 1772 s (the loop's sleeps) with a 1750 s window: the
    first is posted, the second held back, the third posted counting both, the fourth held
    back; status counts every one."""
    w = World(event_window=1750.0)
    w.publish()
    await w.loop.step()
    for n in range(1, 4):
        await w.loop.step()  # sleeps until due
        w.publish(T0 - datetime.timedelta(seconds=30 - n))
        await w.loop.step()
    assert w.sleeps == [1740.0, 31.0, 1.0]
    assert w.status["rotations"] == 4
    rotated = [e[2] for e in w.events if e[1] == "Rotated"]
    assert len(rotated) == 2, rotated
    assert "rotations since" not in rotated[0]
    assert rotated[1].endswith("; 2 rotations since the last Rotated Event")
    assert w.status["serial"] not in rotated[1]  # the fourth, held back


async def test_woken_early_it_fetches_at_once() -> None:
    w = World()
    w.answers.append(w.publish())  # the CA serves the same certificate twice
    await w.loop.step()
    w.wake_next = True  # e.g. the spec changed
    await w.loop.step()
    assert w.fetches == [STAR_URL] and w.clock.now == T0
    calls = list(w.secrets.calls)
    await w.loop.step()
    assert w.fetches == [STAR_URL, STAR_URL]
    assert w.secrets.calls == calls  # the chain installed already: no Secret read or write
    assert [e[1] for e in w.events] == ["Rotated"]  # nothing new: no second Event


async def test_a_failing_fetch_backs_off_and_recovers() -> None:
    w = World()
    down = acme.AcmeConnectionError(STAR_URL, "connection refused")
    w.answers = [down, down, down, down]
    for attempt in range(1, 5):
        await w.loop.step()  # due: fetch, fail
        assert len(w.fetches) == attempt and w.status["failures"] == attempt
        await w.loop.step()  # waits the backoff out, without fetching
        assert len(w.fetches) == attempt and len(w.sleeps) == attempt
    for delay, base in zip(w.sleeps, (1.0, 2.0, 4.0, 8.0)):
        assert delay is not None
        assert base <= delay <= base * 1.1  # Backoff(first=1) doubling, up to 10 % more
    assert w.ready() == ("False", reasons.Failure.CA_UNREACHABLE)
    assert w.status["state"] == CertState.ERROR and "connection refused" in w.status["lastError"]
    warnings = [e for e in w.events if e[0] == "Warning"]
    assert [e[2].split("attempt ")[1][0] for e in warnings] == ["1", "2", "4"]  # no flood
    chain = w.publish().chain_pem
    await w.loop.step()
    assert w.secret_chain() == chain and w.ready() == ("True", "Current")
    assert w.status["failures"] == 0 and "lastError" not in w.status


async def test_a_failure_while_serving_keeps_ready_as_renewal_failing() -> None:
    w = World()
    w.publish()
    await w.loop.step()
    served = w.secret_chain()
    await w.loop.step()  # sleep until due
    w.answers.append(acme.AcmeProblem(ERROR_PREFIX + "serverInternal", "oops", 500))
    await w.loop.step()
    assert w.ready() == ("True", "RenewalFailing")
    assert w.status["state"] == CertState.CURRENT and w.status["failures"] == 1
    assert w.secret_chain() == served  # the Secret untouched
    await w.loop.step()
    # the backoff is scaled to the lifetime: first 1/100 of an hour (plus up to 10 %)
    assert 36 <= w.sleeps[-1] <= 36 * 1.1


@pytest.mark.parametrize("problem, state, event", [
    ("autoRenewalCanceled", CertState.CANCELED, "Warning"),
    ("autoRenewalExpired", CertState.END_DATE_REACHED, "Normal"),
])
async def test_the_ca_ending_the_order_stops_the_loop(problem: str, state: str,
                                                      event: str) -> None:
    w = World()
    w.publish()
    await w.loop.step()
    await w.loop.step()
    w.answers.append(acme.AcmeProblem(ERROR_PREFIX + problem, "no more", 403))
    await w.loop.step()
    assert w.status["state"] == state and w.ready() == ("False", state)
    assert "nextFetch" not in w.status and w.status["failures"] == 0
    assert w.events[-1][:2] == (event, state)
    fetched = len(w.fetches)
    await w.loop.step()  # stopped: sleeps until the last certificate expires, no fetch
    assert len(w.fetches) == fetched
    assert w.sleeps[-1] == 30 * 60  # until notAfter T0+59 min, from T0+29 min
    await w.loop.step()  # expired now: said once, then sleeps until woken
    assert w.status["state"] == CertState.EXPIRED and w.ready() == ("False", "Expired")
    await w.loop.step()
    assert w.sleeps[-1] is None and len(w.fetches) == fetched


async def test_the_end_date_certificate_is_the_last_fetch() -> None:
    w = World(end_date=T0 + datetime.timedelta(minutes=59))
    w.publish()  # notAfter = the end-date
    await w.loop.step()
    assert w.status["state"] == CertState.END_DATE_REACHED
    assert w.ready() == ("True", "FinalCertificate") and "nextFetch" not in w.status
    await w.loop.step()
    assert w.fetches == [STAR_URL] and w.sleeps == [pytest.approx(59 * 60)]


async def test_a_stopped_loop_restarts_when_the_spec_is_edited() -> None:
    w = World()
    w.answers.append(acme.AcmeProblem(ERROR_PREFIX + "autoRenewalCanceled", "", 403))
    await w.loop.step()
    assert w.status["state"] == CertState.CANCELED
    w.body["spec"]["starCertificateURL"] = STAR_URL + "2"  # a new order's URL
    w.publish()
    await w.loop.step()
    assert w.fetches == [STAR_URL, STAR_URL + "2"]
    assert w.status["state"] == CertState.CURRENT and w.ready() == ("True", "Current")


class Flag:
    """kopf's ``stopped`` flag of a daemon, set by the test."""

    def __init__(self) -> None:
        self.event = asyncio.Event()

    def __bool__(self) -> bool:
        return self.event.is_set()

    async def wait(self) -> None:
        await self.event.wait()


async def test_stopping_the_daemon_ends_its_wait_at_once() -> None:
    """kopf sets ``stopped`` on deletion; a loop asleep until its next fetch (29 min away) must
    return by itself rather than wait for kopf to cancel it."""
    w = World()
    w.publish()
    await w.loop.step()  # the certificate is installed; the next fetch is half a life away
    asleep = asyncio.Event()

    async def real_sleep(namespace: str, name: str, seconds: float | None) -> bool:
        asleep.set()
        return await wakeups.sleep(namespace, name, seconds)

    w.loop.sleep, stopped = real_sleep, Flag()
    daemon = asyncio.ensure_future(w.loop.run(stopped))
    await asyncio.wait_for(asleep.wait(), 5)
    stopped.event.set()
    await asyncio.wait_for(daemon, 5)  # ended by itself: not cancelled, no fetch since
    assert w.fetches == [STAR_URL] and not daemon.cancelled()


async def test_an_owned_certificate_tells_its_order_of_ready_once_and_of_renewals_never(
        ) -> None:
    """The first certificate makes the new StarCertificate's Ordered StarOrder Valid and Ready:
    one JSON Patch (the phase tested, then set with the star-certificate URL and Ready) and an
    Issued Event there. A renewal leaves Ready as it was: nothing is written to the StarOrder
    (the certificate's notAfter is the StarCertificate's status)."""
    w = World(owned=True)
    w.publish()
    await w.loop.step()
    assert w.secrets.secrets["tls"]["metadata"]["annotations"][c.OWNER_ANNOTATION] == "ns/web"
    assert len(w.order_writes) == 1 and w.order_writes[0][0] == "json"
    assert w.order_writes[0][1][0] == {"op": "test", "path": "/status/phase",
                                       "value": c.Phase.ORDERED}
    order = w.order.status
    assert order["phase"] == c.Phase.VALID and order["starCertificateURL"] == STAR_URL
    assert order["orderState"] == "valid" and order["certificateName"] == "web"
    assert order["conditions"][0]["status"] == "True"
    assert order["conditions"][0]["observedGeneration"] == 3  # the StarOrder's own
    assert [e[:2] for e in w.order_events] == [("Normal", "Issued")]
    await w.loop.step()  # sleeps until due
    second = w.publish(T0 - datetime.timedelta(seconds=30))
    await w.loop.step()
    assert w.secret_chain() == second.chain_pem
    assert w.status["notAfter"] == timeutil.format_time(second.not_after)
    assert len(w.order_writes) == 1 and len(w.order_events) == 1


async def test_a_restarted_loop_copies_ready_to_its_valid_order_in_one_write() -> None:
    """A StarCertificate with a Ready in status (a previous run's) has had its StarOrder made
    Valid then, so a later change of Ready is copied with the Valid test first: one write."""
    ready = {"type": "Ready", "status": "True", "reason": "Current", "message": "m"}
    w = World(owned=True, order_phase=c.Phase.VALID,
              status={"state": CertState.CURRENT, "conditions": [ready]})
    w.answers.append(acme.AcmeConnectionError(STAR_URL, "refused"))
    await w.loop.step()
    assert len(w.order_writes) == 1
    assert w.order_writes[0][1][0] == {"op": "test", "path": "/status/phase",
                                       "value": c.Phase.VALID}
    assert w.order.status["conditions"][0]["status"] == "False"


@pytest.mark.parametrize("phase", [c.Phase.VALID, c.Phase.CANCELING])
async def test_a_first_ready_tries_promotion_then_the_plain_copy(phase: str) -> None:
    """The first Ready of a StarCertificate whose StarOrder is Valid already (the StarOrder
    handler wrote it after an attempt was cut off) is copied by the second try; to one being
    canceled nothing is written, and no Event posted."""
    w = World(owned=True, order_phase=phase)
    w.publish()
    await w.loop.step()
    assert [ops[0]["value"] for _, ops in w.order_writes] == [c.Phase.ORDERED, c.Phase.VALID]
    assert w.order.status["phase"] == phase
    assert bool(w.order.status.get("conditions")) == (phase == c.Phase.VALID)
    assert len(w.order_events) == (1 if phase == c.Phase.VALID else 0)


async def test_an_owned_certificates_first_rotation_is_the_orders_issued_event_only() -> None:
    """The StarOrder's Issued Event stands for the first certificate, so the StarCertificate
    posts no Rotated of its own then, and its window starts there: the rotation 1740 s later
    (window 1750 s) is held back, the one after the window is posted counting both."""
    w = World(owned=True, event_window=1750.0)
    w.publish()
    await w.loop.step()
    assert [e[:2] for e in w.order_events] == [("Normal", "Issued")] and w.events == []
    for n in range(1, 3):
        await w.loop.step()  # sleeps until due
        w.publish(T0 - datetime.timedelta(seconds=30 - n))
        await w.loop.step()
    assert w.sleeps == [1740.0, 31.0] and w.status["rotations"] == 3
    assert [e[2] for e in w.events if e[1] == "Rotated"] == [
        f"Secret tls now holds serial {w.status['serial']} (notAfter {w.status['notAfter']}); "
        "2 rotations since the last Rotated Event"]

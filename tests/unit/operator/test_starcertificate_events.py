"""The StarCertificate's watch-event handler (handlers.starcertificate.spec_changed), called as
kopf calls it: a spec edit wakes the object's loop, a write that leaves the spec as it was (its
own status, say) does not, and a deletion drops the object's metric series."""

from __future__ import annotations

import asyncio
from typing import Any

import kopf
from prometheus_client import REGISTRY

from star_operator import metrics
from star_operator.handlers.starcertificate import spec_changed
from star_operator.renewal import wakeups


def _event(kind: str | None, url: str, status: dict[str, Any] | None = None
           ) -> dict[str, Any]:
    return {"type": kind, "object": {"metadata": {"namespace": "ns", "name": "web"},
                                     "spec": {"starCertificateURL": url, "secretName": "tls"},
                                     "status": status or {}}}


#: The object's name here: the wake-ups are the process's, shared with the loop's tests.
NAME = "events-test"


async def _seen(memo: kopf.Memo, event: dict[str, Any]) -> None:
    await spec_changed(event=event, namespace="ns", name=NAME,  # type: ignore[arg-type]
                       body=kopf.Body(event["object"]), memo=memo)


async def test_a_spec_edit_wakes_the_loop_and_a_status_write_does_not() -> None:
    memo = kopf.Memo()
    await _seen(memo, _event(None, "https://ca.test/star/1"))  # listed: first sight
    sleeping = asyncio.ensure_future(wakeups.sleep("ns", NAME, 60))
    try:
        await asyncio.sleep(0)  # the loop is now in its wait
        await _seen(memo, _event("MODIFIED", "https://ca.test/star/1", {"rotations": 1}))
        await asyncio.sleep(0)
        assert not sleeping.done()
        await _seen(memo, _event("MODIFIED", "https://ca.test/star/2"))
        assert await asyncio.wait_for(sleeping, 5) is True
    finally:
        sleeping.cancel()
        wakeups.forget("ns", NAME)


async def test_a_deletion_drops_the_metric_series() -> None:
    metrics.objects.certificate("ns", NAME).not_after = 1.0
    sample = ("star_operator_certificate_not_after_timestamp_seconds",
              {"namespace": "ns", "name": NAME})
    assert REGISTRY.get_sample_value(*sample) == 1.0
    await _seen(kopf.Memo(), _event("DELETED", "https://ca.test/star/1"))
    assert REGISTRY.get_sample_value(*sample) is None

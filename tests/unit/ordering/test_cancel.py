"""Cancellation of a native STAR order (RFC 8739 §3.1.2) with a fake CA and a fake status
sub-resource: the requests made, the status written and the Events posted."""

from __future__ import annotations

import asyncio

import pytest

from star_operator import acme
from star_operator import constants as c
from star_operator.ordering import cancel
from star_operator.ordering.issuance import OrderJob, Retry
from tests.unit.ordering.fakes import URL, FakeCa, Fakes
from tests.unit.ordering.fakes import order as _order


def _client_for(ca: FakeCa) -> cancel.ClientFor:
    async def client_for(job: OrderJob) -> acme.AcmeClient:
        return ca  # type: ignore[return-value]
    return client_for


def test_a_valid_order_is_canceled_and_the_state_recorded() -> None:
    fakes, ca = Fakes({"orderURL": URL, "phase": "Valid"}), FakeCa("valid", _order("canceled"))
    asyncio.run(cancel.end_at_ca(fakes.job(), 60.0, _client_for(ca)))
    assert ca.requests == [f"GET {URL}", f"CANCEL {URL}"]
    assert fakes.patches[-1]["orderState"] == "canceled"
    assert fakes.events == [("Normal", "Canceled", f"STAR order {URL} is canceled at the CA")]


def test_an_order_already_dead_at_the_ca_is_not_canceled_again() -> None:
    fakes, ca = Fakes({"orderURL": URL}), FakeCa("expired")
    asyncio.run(cancel.end_at_ca(fakes.job(), 60.0, _client_for(ca)))
    assert ca.requests == [f"GET {URL}"]
    assert fakes.patches[-1]["orderState"] == "expired"


def test_someone_else_canceling_first_counts_as_canceled() -> None:
    class RacedCa(FakeCa):
        async def cancel_order(self, url: str) -> acme.Order:
            self.requests.append(f"CANCEL {url}")
            self.state = "canceled"  # the DNO canceled it a moment earlier
            raise acme.AcmeProblem("urn:ietf:params:acme:error:autoRenewalCancellationInvalid")

    fakes, ca = Fakes({"orderURL": URL}), RacedCa("valid")
    asyncio.run(cancel.end_at_ca(fakes.job(), 60.0, _client_for(ca)))
    assert ca.requests == [f"GET {URL}", f"CANCEL {URL}", f"GET {URL}"]
    assert fakes.patches[-1]["orderState"] == "canceled"


def test_a_ca_down_is_recorded_and_retried_with_growing_capped_backoff() -> None:
    down = acme.AcmeConnectionError(URL, "connection refused")
    fakes = Fakes({"orderURL": URL, "phase": "Valid"})
    delays = []
    for _ in range(4):
        ca = FakeCa("valid", down)
        with pytest.raises(Retry) as raised:
            asyncio.run(cancel.end_at_ca(fakes.job(), 3.0, _client_for(ca)))
        delays.append(raised.value.delay)
    assert delays == [1.0, 2.0, 3.0, 3.0]  # Backoff(first=1) capped at the delete cap
    last = fakes.patches[-1]
    assert last["phase"] == c.Phase.CANCELING and last["cancelAttempts"] == 4
    assert last["conditions"][0]["reason"] == "CancelFailed"
    assert "force-delete" in last["conditions"][0]["message"]
    assert [e[:2] for e in fakes.events] == [("Warning", "CancelFailed")] * 4


def test_force_delete_skips_the_ca_with_a_warning() -> None:
    fakes, ca = Fakes({"orderURL": URL, "orderState": "valid"}), FakeCa("valid")
    job = fakes.job(annotations={c.FORCE_DELETE_ANNOTATION: "true"})
    asyncio.run(cancel.end_at_ca(job, 60.0, _client_for(ca)))
    assert ca.requests == [] and fakes.patches == []
    assert fakes.events[0][:2] == ("Warning", "ForceDeleted")
    assert "NOT canceled at the CA" in fakes.events[0][2]


def test_spec_canceled_ends_in_phase_canceled_once() -> None:
    fakes, ca = Fakes({"orderURL": URL, "phase": "Valid"}), FakeCa("valid", _order("canceled"))
    asyncio.run(cancel.cancel_in_place(fakes.job({"canceled": True}), 60.0, _client_for(ca)))
    assert fakes.status["phase"] == c.Phase.CANCELED
    assert fakes.patches[-1]["conditions"][0]["reason"] == "Canceled"
    written = len(fakes.patches)
    asyncio.run(cancel.cancel_in_place(fakes.job({"canceled": True}), 60.0, _client_for(ca)))
    assert len(fakes.patches) == written and ca.requests.count(f"CANCEL {URL}") == 1

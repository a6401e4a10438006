"""When ``kubectl star renew`` can force a renewal, and the value it writes."""
from __future__ import annotations

import datetime

from star_operator import timeutil
from star_operator.cli import renew


def _order(**status_) -> dict:
    return {"metadata": {"name": "web", "namespace": "shop"}, "status": status_}


def test_native_order_cannot_be_forced_and_says_why() -> None:
    why = renew.refusal(_order(mode="Native", phase="Valid",
                               starCertificateURL="https://ca.test/star/1"))
    assert "native STAR order" in why and "cannot be forced" in why
    assert "https://ca.test/star/1" in why
    # orders placed before status.mode existed are native
    assert "native STAR" in renew.refusal(_order(orderURL="https://ca.test/order/1",
                                                 phase="Valid"))


def test_emulated_series_can_be_forced_unless_ended_deleting_or_not_issued() -> None:
    assert renew.refusal(_order(mode="Emulated", phase="Valid", series={"serial": "ab"})) is None
    assert "end-date" in renew.refusal(_order(mode="Emulated", phase="Valid",
                                              series={"serial": "ab", "final": True}))
    past = timeutil.format_time(timeutil.utcnow() - datetime.timedelta(minutes=1))
    assert "has passed" in renew.refusal(_order(mode="Emulated", phase="Valid", endDate=past,
                                                series={"serial": "ab"}))
    assert "still being ordered" in renew.refusal(_order(phase="KeyStaged"))
    deleting = _order(mode="Emulated", phase="Valid", series={"serial": "ab"})
    deleting["metadata"]["deletionTimestamp"] = "2030-01-01T00:00:00Z"
    assert "being deleted" in renew.refusal(deleting)


def test_request_value_is_rfc3339_utc_and_distinct_per_call() -> None:
    now = datetime.datetime(2030, 1, 1, 12, 0, 0, 5, tzinfo=datetime.timezone.utc)
    value = renew.request_value(now)
    assert value == "2030-01-01T12:00:00.000005Z"
    assert timeutil.parse_time(value) == now
    assert renew.request_value(now + datetime.timedelta(microseconds=1)) != value


def test_canceled_series_is_refused_as_canceled() -> None:
    why = renew.refusal(_order(mode="Emulated", phase="Canceled", series={"serial": "ab"}))
    assert why is not None and "is canceled" in why

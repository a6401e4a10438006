"""Failure → condition mapping, a valid order's readiness, and orphan-order matching."""
from __future__ import annotations

import datetime
from pathlib import Path

from star_operator import acme
from star_operator.dns01 import Dns01Error, DnsFailure
from star_operator.ordering import adopt, failures, readiness
from star_operator.ordering.request import OrderRequest

END = datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)


def test_dns_failures_name_the_dns_problem() -> None:
    refused = Dns01Error("BADSIG", reason=DnsFailure.UPDATE_REFUSED)
    assert failures.classify_order_error(refused)[0] == "DNSUpdateRefused"
    down = Dns01Error("cannot reach DNS server 192.0.2.1:53", reason=DnsFailure.SERVER_UNREACHABLE)
    reason, message = failures.classify_order_error(down)
    assert reason == "DNSServerUnreachable" and "RFC 2136" in message and str(down) in message
    assert failures.classify_order_error(Dns01Error("?"))[0] == "DNSUpdateFailed"


def test_dns_failure_reasons_are_the_documented_ones() -> None:
    """The wire values are condition and Event reasons users and docs/operator.md name."""
    assert [str(f) for f in DnsFailure] == ["DNSUpdateRefused", "DNSServerUnreachable",
                                            "DNSSettingsInvalid", "DNSNotAuthoritative",
                                            "DNSUpdateFailed"]
    table = (Path(__file__).resolve().parents[3] / "docs" / "operator.md").read_text()
    assert all(f"`{f}`" in table for f in DnsFailure)


def test_ca_failures() -> None:
    down = acme.AcmeConnectionError("https://ca/dir", "connection refused")
    assert failures.classify_order_error(down) == ("CAUnreachable", str(down))
    assert failures.classify_order_error(acme.AcmeTlsError("https://ca", "bad"))[0] \
        == "CATLSVerifyFailed"
    problem = acme.AcmeProblem("urn:ietf:params:acme:error:rejectedIdentifier", "no")
    assert failures.classify_order_error(problem)[0] == "CArejectedIdentifier"


def test_valid_order_ready_follows_its_certificate() -> None:
    assert readiness.order_ready("o", "s", None)[:2] == (False, readiness.WAITING)
    assert readiness.order_ready("o", "s", {"status": "True", "reason": "Current"})[:2] \
        == (True, readiness.ISSUED)
    ready, reason, message = readiness.order_ready(
        "o", "s", {"status": "False", "reason": "SecretWriteFailed", "message": "immutable"})
    assert (ready, reason) == (False, "SecretWriteFailed") and "immutable" in message


def _order(status: str = "pending", names: tuple[str, ...] = ("b.test", "a.test"),
           end: str = "2030-01-02T03:04:05Z", lifetime: int = 60) -> acme.Order:
    doc = {"status": status, "identifiers": [{"type": "dns", "value": n} for n in names],
           "auto-renewal": {"end-date": end, "lifetime": lifetime}}
    return acme.Order.from_json("https://ca/order/1", doc)


def test_only_the_same_live_request_is_adopted() -> None:
    req = OrderRequest(names=("a.test", "b.test"), key_type="ecdsa-p256", subject={},
                       lifetime=60, lifetime_adjust=None, start_date=None, end_date=END)
    assert adopt.same_request(_order(), req)
    assert not adopt.same_request(_order(status="invalid"), req)
    assert not adopt.same_request(_order(names=("a.test",)), req)
    assert not adopt.same_request(_order(end="2030-01-02T03:04:06Z"), req)
    assert not adopt.same_request(_order(lifetime=61), req)

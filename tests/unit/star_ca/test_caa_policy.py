"""RFC 8659 / RFC 8657 evaluation of a relevant CAA RRset (pure function)."""
from __future__ import annotations

import pytest

from star_ca.va.caa import CaaRecord, evaluate, parse_issue_value

ME = ("star-ca.test",)
ACCT = "https://ca.test/acme/acct/1"


def ok(records: list[CaaRecord], wildcard: bool = False, method: str = "dns-01") -> bool:
    return evaluate(records, wildcard=wildcard, identities=ME, account_uri=ACCT,
                    method=method) is None


def issue(value: str, tag: str = "issue", flags: int = 0) -> CaaRecord:
    return CaaRecord(flags, tag, value)


def test_no_records_permit() -> None:
    assert ok([])
    assert ok([issue("mailto:x@y", "iodef")])


@pytest.mark.parametrize("value, allowed", [
    ("star-ca.test", True), ("STAR-CA.test.", True), ("other.test", False), (";", False),
    ("", False), ("star-ca.test; accounturi=" + ACCT, True),
    ("star-ca.test; accounturi=https://ca.test/acme/acct/2", False),
    ("star-ca.test; validationmethods=dns-01", True),
    ("star-ca.test; validationmethods=http-01", False),
    ("star-ca.test; validationmethods=http-01,dns-01; accounturi=" + ACCT, True),
    ("star-ca.test; unknown=1", True), ("star-ca.test; bad param", False),
    ("star-ca.test; some-future-param=1", True), ("star-ca.test; -x=1", False),
])
def test_issue_values(value: str, allowed: bool) -> None:
    assert ok([issue(value)]) is allowed


def test_any_matching_record_suffices() -> None:
    assert ok([issue("other.test"), issue("star-ca.test")])


def test_critical_unknown_tag_refuses() -> None:
    assert not ok([issue("star-ca.test"), issue("x", "tbs", 128)])
    assert ok([issue("star-ca.test"), issue("x", "tbs", 0)])


def test_issuewild() -> None:
    records = [issue("star-ca.test"), issue(";", "issuewild")]
    assert ok(records) and not ok(records, wildcard=True)
    assert ok([issue("star-ca.test")], wildcard=True)  # falls back to issue
    assert ok([issue("other.test"), issue("star-ca.test", "issuewild")], wildcard=True)
    assert ok([issue("star-ca.test", "issuewild")])  # issuewild does not restrict non-wildcards


def test_parse_issue_value() -> None:
    v = parse_issue_value(" ca.test ; accounturi = https://x/1;validationmethods=dns-01 ")
    assert v is not None and v.issuer == "ca.test"
    assert v.params == {"accounturi": "https://x/1", "validationmethods": "dns-01"}

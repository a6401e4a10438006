"""The CAA record a template keeps (RFC 9115 §7.4, RFC 8657) and when a found RRset drifted."""
from __future__ import annotations

import pytest

from star_operator.ordering.templates import CaaPolicy, TemplateSpecError, _caa
from star_operator.zone_records import caa
from star_operator.zone_records.access import ZoneRecordError

ACCOUNT = "https://ca.test:14000/acme/acct/7"
POLICY = CaaPolicy(issuer_domain=None, check_interval=300, ttl=300)


def test_one_ca_one_account_dns01_only() -> None:
    assert caa.issue_value("star-ca.test", ACCOUNT) == (
        f'0 issue "star-ca.test; accounturi={ACCOUNT}; validationmethods=dns-01"')


def test_the_issuer_is_the_templates_or_the_cas_first_caa_identity() -> None:
    directory = {"meta": {"caaIdentities": ["Star-CA.test.", "other.test"]}}
    assert caa.issuer(POLICY, directory) == "star-ca.test"
    named = CaaPolicy(issuer_domain="ca.example", check_interval=1, ttl=5)
    assert caa.issuer(named, directory) == "ca.example"
    with pytest.raises(ZoneRecordError) as unknown:
        caa.issuer(POLICY, {"meta": {}})
    assert unknown.value.reason == "CAAIssuerUnknown"
    assert "spec.caa.issuerDomain" in unknown.value.message


@pytest.mark.parametrize("found, same", [
    ([caa.issue_value("star-ca.test", ACCOUNT)], True),
    ([caa.issue_value("star-ca.test", ACCOUNT).replace("issue", "ISSUE")], True),
    ([], False),                                                     # deleted
    (['0 issue "evil.example"'], False),                             # edited
    ([caa.issue_value("star-ca.test", ACCOUNT), '0 issue "evil.example"'], False),  # added to
    ([caa.issue_value("star-ca.test", ACCOUNT + "8")], False),       # another account
    (["not a caa record"], False),
])
def test_drift_is_any_rrset_but_exactly_the_wanted_record(found: list[str], same: bool) -> None:
    assert caa.same_rrset(found, caa.issue_value("star-ca.test", ACCOUNT)) is same


def test_spec_caa_parsing() -> None:
    assert _caa({}) is None and _caa({"publish": False, "ttl": 5}) is None
    assert _caa({"publish": True}) == CaaPolicy(None, 300, 300)
    assert _caa({"publish": True, "checkInterval": "2s", "ttl": 5,
                 "issuerDomain": "ca.example"}) == CaaPolicy("ca.example", 2, 5)
    for bad, field in (({"checkInterval": "soon"}, "spec.caa.checkInterval"),
                       ({"ttl": 0}, "spec.caa.ttl"), ({"ttl": "5"}, "spec.caa.ttl")):
        with pytest.raises(TemplateSpecError) as refused:
            _caa({"publish": True, **bad})
        assert refused.value.path == field

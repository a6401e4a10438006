"""Order / directory / authorization models, including the RFC 8739 STAR fields."""

from datetime import datetime, timezone

import pytest

from star_operator.acme import AutoRenewal, Directory, Order
from star_operator.acme.errors import AcmeProtocolError
from star_operator.acme.models import Authorization

END = datetime(2025, 3, 8, 0, 0, tzinfo=timezone.utc)


def test_auto_renewal_json_uses_kebab_case_and_rfc3339() -> None:
    ar = AutoRenewal(end_date=END, lifetime=345600)
    assert ar.to_json() == {
        "end-date": "2025-03-08T00:00:00Z",
        "lifetime": 345600,
        "allow-certificate-get": True,
    }
    full = AutoRenewal(
        end_date=END,
        lifetime=600,
        start_date=datetime(2025, 3, 1, tzinfo=timezone.utc),
        lifetime_adjust=60,
        allow_certificate_get=False,
    ).to_json()
    assert full == {
        "end-date": "2025-03-08T00:00:00Z",
        "lifetime": 600,
        "start-date": "2025-03-01T00:00:00Z",
        "lifetime-adjust": 60,
    }


def test_auto_renewal_refuses_naive_dates() -> None:
    with pytest.raises(ValueError, match="timezone"):
        AutoRenewal(end_date=datetime(2025, 3, 8), lifetime=600).to_json()


def test_star_order_fields() -> None:
    doc = {
        "status": "canceled",
        "expires": "2025-03-02T00:00:00Z",
        "identifiers": [{"type": "dns", "value": "a.example.test"}],
        "authorizations": ["https://ca/authz/1"],
        "finalize": "https://ca/order/1/finalize",
        "star-certificate": "https://ca/star/abc",
        "auto-renewal": {"end-date": "2025-03-08T00:00:00Z", "lifetime": 600},
    }
    order = Order.from_json("https://ca/order/1", doc)
    assert order.status == "canceled"
    assert order.star_certificate == "https://ca/star/abc"
    assert order.certificate is None
    assert order.auto_renewal == {"end-date": "2025-03-08T00:00:00Z", "lifetime": 600}
    assert order.names == ("a.example.test",)
    assert order.expires == datetime(2025, 3, 2, tzinfo=timezone.utc)
    assert order.raw["status"] == "canceled"


def test_order_error_is_a_problem() -> None:
    doc = {"status": "invalid", "error": {"type": "urn:ietf:params:acme:error:badCSR"}}
    order = Order.from_json("https://ca/order/2", doc)
    assert order.error is not None and order.error.short_type == "badCSR"


def test_order_without_status_is_protocol_error() -> None:
    with pytest.raises(AcmeProtocolError, match="https://ca/order/3"):
        Order.from_json("https://ca/order/3", {})


def test_directory_star_meta() -> None:
    doc = {
        "newNonce": "https://ca/nonce",
        "newAccount": "https://ca/acct",
        "newOrder": "https://ca/order",
        "revokeCert": "https://ca/revoke",
        "meta": {
            "auto-renewal": {
                "min-lifetime": 86400,
                "max-duration": 31536000,
                "allow-certificate-get": True,
            }
        },
    }
    directory = Directory.from_json(doc)
    assert directory.star is not None
    assert (directory.star.min_lifetime, directory.star.max_duration) == (86400, 31536000)
    assert directory.star.allow_certificate_get is True
    assert directory.revoke_cert == "https://ca/revoke"
    assert Directory.from_json({**doc, "meta": {}}).star is None


def test_directory_missing_endpoint_is_named() -> None:
    with pytest.raises(AcmeProtocolError, match="newOrder"):
        Directory.from_json({"newNonce": "a", "newAccount": "b"})


def test_wildcard_authorization_domain() -> None:
    doc = {
        "status": "pending",
        "identifier": {"type": "dns", "value": "example.test"},
        "wildcard": True,
        "challenges": [
            {"type": "dns-01", "url": "https://ca/ch/1", "status": "pending", "token": "t"}
        ],
    }
    authz = Authorization.from_json("https://ca/authz/1", doc)
    assert authz.domain == "*.example.test"
    chall = authz.challenge("dns-01")
    assert chall is not None and chall.url == "https://ca/ch/1"
    assert authz.challenge("http-01") is None

"""The NDC side of RFC 9115 in the client: External Account Binding, the account's
delegations, delegation objects, Order1 (STAR and ordinary) with finalize and cancel."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import AsyncIterator

import josepy as jose
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from star_operator.acme import (AcmeClient, AcmeProblem, AcmeProtocolError, AutoRenewal,
                                Delegation, EabCredentials, EabError)

from fake_acme import start
from fake_front_end import TEMPLATE, FakeFrontEnd


@pytest.fixture
async def front() -> AsyncIterator[FakeFrontEnd]:
    state = FakeFrontEnd()
    server = await start(state)
    try:
        yield state
    finally:
        await server.close()


def _key() -> jose.JWK:
    return jose.JWKEC(key=ec.generate_private_key(ec.SECP256R1()))


def _creds(front: FakeFrontEnd, mac: bytes | None = None) -> EabCredentials:
    return EabCredentials(front.key_id, jose.b64.b64encode(mac or front.mac_key).decode())


def _csr_der() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "www.dno.test")])).add_extension(
        x509.SubjectAlternativeName([x509.DNSName("www.dno.test")]), critical=False).sign(
        key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.DER)


async def _registered(front: FakeFrontEnd) -> AcmeClient:
    client = AcmeClient(front.url("/directory"), _key())
    await client.register(binding=_creds(front))
    return client


async def test_binding_is_hs256_over_the_account_key_without_nonce(front: FakeFrontEnd) -> None:
    client = await _registered(front)
    try:
        assert client.account_url == front.url("/acct/1")
    finally:
        await client.close()
    # The fake verified MAC, kid, url and payload; here: the header it saw.
    assert front.eab_headers == [{"alg": "HS256", "kid": "cdn-1", "url": front.url("/acct"),
                                  "nonce": None}]


async def test_wrong_mac_key_is_refused_by_the_server(front: FakeFrontEnd) -> None:
    async with AcmeClient(front.url("/directory"), _key()) as client:
        with pytest.raises(AcmeProblem) as exc:
            await client.register(binding=_creds(front, b"x" * 32))
    assert exc.value.short_type == "unauthorized"
    assert "MAC does not verify" in exc.value.detail
    assert client.account_url is None


async def test_no_binding_is_refused_at_a_front_end(front: FakeFrontEnd) -> None:
    async with AcmeClient(front.url("/directory"), _key()) as client:
        with pytest.raises(AcmeProblem, match="externalAccountBinding required"):
            await client.register()


@pytest.mark.parametrize("key_id, mac, needle", [
    ("", jose.b64.b64encode(b"k" * 32).decode(), "keyID is empty"),
    ("cdn-1", "not base64url!!", "hmacKey is not base64url"),
    ("cdn-1", jose.b64.b64encode(b"short").decode(), "decodes to 5 bytes"),
])
def test_unusable_credentials_name_the_field_not_the_key(key_id: str, mac: str,
                                                         needle: str) -> None:
    with pytest.raises(EabError, match=needle) as exc:
        EabCredentials(key_id, mac)
    assert mac not in str(exc.value) or not mac
    assert mac not in repr(EabCredentials("k", jose.b64.b64encode(b"s" * 32).decode()))


async def test_delegations_list_and_object(front: FakeFrontEnd) -> None:
    client = await _registered(front)
    try:
        urls = await client.delegation_urls()
        assert urls == [front.url("/delegation/1")]
        delegation = await client.get_delegation(urls[0])
    finally:
        await client.close()
    assert delegation.csr_template == TEMPLATE
    assert delegation.cname_map == {"_acme-challenge.www.dno.test":
                                    "_acme-challenge.www.cdn.test"}


async def test_account_without_delegations_is_not_a_front_end(front: FakeFrontEnd) -> None:
    front.with_delegations = False
    client = await _registered(front)
    try:
        with pytest.raises(AcmeProtocolError, match="no delegations URL"):
            await client.delegation_urls()
    finally:
        await client.close()


def test_delegation_without_template_is_a_protocol_error() -> None:
    with pytest.raises(AcmeProtocolError, match="no csr-template"):
        Delegation.from_json("https://fe.test/d/1", {"cname-map": {}})
    assert Delegation.from_json("https://fe.test/d/1", {"csr-template": TEMPLATE}).cname_map == {}


async def test_star_order1_finalize_and_cancel(front: FakeFrontEnd) -> None:
    end = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(hours=1)
    client = await _registered(front)
    try:
        order = await client.new_order(["www.dno.test"], AutoRenewal(end_date=end, lifetime=300),
                                       delegation=front.url("/delegation/1"))
        assert (order.status, order.authorizations) == ("ready", ())
        final = await client.finalize(order, _csr_der())
        assert final.star_certificate == front.url("/star")
        canceled = await client.cancel_order(order.url)
    finally:
        await client.close()
    sent = front.orders[0]
    assert sent["delegation"] == front.url("/delegation/1")
    assert sent["auto-renewal"]["lifetime"] == 300
    assert sent["identifiers"] == [{"type": "dns", "value": "www.dno.test"}]
    assert canceled.status == "canceled"


async def test_ordinary_order1_has_no_auto_renewal(front: FakeFrontEnd) -> None:
    client = await _registered(front)
    try:
        order = await client.new_order(["www.dno.test"], delegation=front.url("/delegation/1"))
        final = await client.finalize(order, _csr_der())
    finally:
        await client.close()
    assert "auto-renewal" not in front.orders[0]
    assert front.orders[0]["allow-certificate-get"] is True  # RFC 9115 §2.3.3
    assert (final.certificate, final.star_certificate) == (front.url("/cert"), None)


async def test_unknown_delegation_and_bad_csr_are_typed_problems(front: FakeFrontEnd) -> None:
    client = await _registered(front)
    try:
        with pytest.raises(AcmeProblem) as unknown:
            await client.new_order(["www.dno.test"], delegation=front.url("/delegation/9"))
        order = await client.new_order(["www.dno.test"], delegation=front.url("/delegation/1"))
        front.bad_csr = True
        with pytest.raises(AcmeProblem) as bad:
            await client.finalize(order, _csr_der())
    finally:
        await client.close()
    assert unknown.value.short_type == "unknownDelegation"
    assert bad.value.short_type == "badCSR"
    assert "extensions.subjectAltName.DNS" in bad.value.subproblems[0].detail

"""Transport logic against an in-process responder: JWS shape, nonce reuse, badNonce retry,
Retry-After pacing, STAR fetch headers and typed network errors."""

from __future__ import annotations

import hashlib
import socket
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import AsyncIterator

import josepy as jose
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from star_operator.acme import AcmeClient, AcmeConnectionError, AcmeProblem, fetch_star_certificate
from star_operator.acme.transport import alg_for_key

from fake_acme import FakeAcme, start


@pytest.fixture
async def fake() -> AsyncIterator[FakeAcme]:
    state = FakeAcme()
    server = await start(state)
    try:
        yield state
    finally:
        await server.close()


def _key() -> jose.JWK:
    return jose.JWKEC(key=ec.generate_private_key(ec.SECP256R1()))


def test_alg_follows_key_type() -> None:
    assert alg_for_key(_key()) is jose.ES256
    assert alg_for_key(jose.JWKEC(key=ec.generate_private_key(ec.SECP384R1()))) is jose.ES384
    assert alg_for_key(jose.JWKRSA(key=rsa.generate_private_key(65537, 2048))) is jose.RS256


def test_dns01_value_is_sha256_of_key_authorization() -> None:
    key = _key()
    client = AcmeClient("https://ca.invalid/directory", key)
    token = jose.encode_b64jose(b"0123456789abcdef0123456789abcdef")
    key_auth = f"{token}.{jose.encode_b64jose(key.thumbprint())}"
    expected = jose.encode_b64jose(hashlib.sha256(key_auth.encode()).digest())
    assert client.dns01_value(token) == expected


async def test_register_uses_jwk_then_kid(fake: FakeAcme) -> None:
    async with AcmeClient(fake.url("/directory"), _key()) as client:
        assert await client.register(["mailto:dno@example.test"]) == fake.url("/acct/1")
        await client.get_order(fake.url("/order/1"))
    assert fake.seen[0] == {"path": "/acct", "kid": None, "has_jwk": True, "alg": "ES256"}
    assert fake.seen[1] == {
        "path": "/order/1",
        "kid": fake.url("/acct/1"),
        "has_jwk": False,
        "alg": "ES256",
    }


async def test_bad_nonce_is_retried_with_fresh_nonce(fake: FakeAcme) -> None:
    async with AcmeClient(fake.url("/directory"), _key()) as client:
        await client.register()
        fake.reject_nonces = 3
        order = await client.get_order(fake.url("/order/1"))
    assert order.status == "valid"
    assert fake.reject_nonces == 0


async def test_bad_nonce_retries_are_bounded(fake: FakeAcme) -> None:
    async with AcmeClient(fake.url("/directory"), _key(), max_nonce_retries=2) as client:
        await client.register()
        fake.reject_nonces = 10
        with pytest.raises(AcmeProblem) as info:
            await client.get_order(fake.url("/order/1"))
    assert info.value.short_type == "badNonce"
    assert fake.reject_nonces == 7  # first try + 2 retries


async def test_wait_order_honours_retry_after(fake: FakeAcme) -> None:
    fake.order_polls_processing = 1
    fake.retry_after = "1"
    async with AcmeClient(fake.url("/directory"), _key(), poll_timeout=30) as client:
        await client.register()
        order = await client.wait_order(fake.url("/order/1"))
    assert order.status == "valid"
    assert len(fake.poll_times) == 2
    assert fake.poll_times[1] - fake.poll_times[0] >= 0.95


def _cert(not_before: datetime, not_after: datetime) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "a.example.test")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


async def test_star_fetch_reads_cert_not_headers_and_freshness(fake: FakeAcme) -> None:
    nb = datetime(2025, 1, 1, tzinfo=timezone.utc)
    na = nb + timedelta(minutes=10)
    fake.star_body = _cert(nb, na).encode()
    fake.star_headers = {
        "Cert-Not-Before": format_datetime(nb, usegmt=True),
        "Cert-Not-After": format_datetime(na, usegmt=True),
        "Cache-Control": "public, max-age=300",
    }
    before = datetime.now(timezone.utc)
    got = await fetch_star_certificate(None, fake.url("/star"))
    assert (got.not_before, got.not_after) == (nb, na)
    assert got.fresh_until is not None
    after = datetime.now(timezone.utc)
    assert before + timedelta(seconds=300) <= got.fresh_until <= after + timedelta(seconds=300)
    assert got.chain_pem.startswith("-----BEGIN CERTIFICATE-----")


async def test_star_fetch_without_headers_reads_the_certificate(fake: FakeAcme) -> None:
    nb = datetime(2025, 1, 1, tzinfo=timezone.utc)
    fake.star_body = _cert(nb, nb + timedelta(hours=1)).encode()
    got = await fetch_star_certificate(None, fake.url("/star"))
    assert got.not_after == nb + timedelta(hours=1)
    assert got.fresh_until is None


async def test_star_fetch_problem_is_typed(fake: FakeAcme) -> None:
    with pytest.raises(AcmeProblem) as info:
        await fetch_star_certificate(None, fake.url("/star"))
    assert info.value.short_type == "autoRenewalCanceled"
    assert info.value.status == 403


async def test_unreachable_server_names_the_url() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"https://127.0.0.1:{port}/directory"
    async with AcmeClient(url, _key()) as client:
        with pytest.raises(AcmeConnectionError, match=f"127.0.0.1:{port}/directory"):
            await client.directory()


def test_ca_bundle_that_is_neither_pem_nor_file_is_refused() -> None:
    with pytest.raises(ValueError, match="neither PEM text nor an existing file"):
        AcmeClient("https://ca.invalid/directory", _key(), ca_bundle="/nonexistent/root.pem")

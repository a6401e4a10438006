"""Helpers shared by the ACME integration tests and the issue-4 end-to-end test.

`next_distinct_certificate` is how a test waits for STAR renewal without fixed sleeps: it does
not refetch while the previous response is still fresh (`Cache-Control: max-age`), then polls
until the URL serves a different certificate, and fails if that has not happened before the
previous certificate's `Cert-Not-After` (RFC 8739 §3.4: the next one is published by the halfway
point of the current one).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Awaitable, Callable, Sequence

import josepy as jose
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from star_devenv.ca import LocalCA
from star_devenv.dns import LocalDNS
from star_operator.acme import StarFetch
from star_operator.dns01 import Rfc2136Solver
from tests.waiting import async_wait_for

# Short enough that three renewals fit in well under a minute, long enough for the CA's
# scheduler and our polling to be comfortably ahead of expiry.
STAR_LIFETIME = 16


@pytest.fixture(scope="module")
def star_ca(dns_server: LocalDNS) -> Iterator[LocalCA]:
    """The real `star-ca serve` over HTTPS, validating dns-01 against the session's BIND 9."""
    with LocalCA(dns_server=dns_server.server, min_lifetime=1) as ca:
        yield ca


@pytest.fixture
def solver(dns_server: LocalDNS) -> Rfc2136Solver:
    """dns-01 by RFC 2136 + TSIG to the session's BIND 9."""
    return Rfc2136Solver(
        server=dns_server.host,
        port=dns_server.port,
        tsig_key_name=dns_server.tsig_key_name,
        tsig_secret=dns_server.tsig_secret,
        tsig_algorithm=dns_server.tsig_algorithm,
        timeout=20.0,
    )


def new_account_key() -> jose.JWK:
    """A fresh ES256 account key (the operator stores one per CA in a Secret)."""
    return jose.JWKEC(key=ec.generate_private_key(ec.SECP256R1()))


def unique_name(zone: str, prefix: str = "acme") -> str:
    """A name of this test's own in the shared BIND zone, so tests do not see each other."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}.{zone}"


def make_csr(names: Sequence[str]) -> tuple[ec.EllipticCurvePrivateKey, bytes]:
    """A P-256 key and a DER CSR with the names as SANs (the CN is the first name)."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    return key, csr.public_bytes(serialization.Encoding.DER)


def leaf(pem: str) -> x509.Certificate:
    """The first certificate of a PEM chain."""
    return x509.load_pem_x509_certificates(pem.encode())[0]


def san_names(cert: x509.Certificate) -> set[str]:
    """The DNS SANs of a certificate."""
    ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    return set(ext.value.get_values_for_type(x509.DNSName))


def assert_headers_match_certificate(fetch: StarFetch) -> None:
    """RFC 8739 §3.3: Cert-Not-Before / Cert-Not-After equal the certificate's own fields."""
    cert = leaf(fetch.chain_pem)
    assert fetch.not_before == cert.not_valid_before_utc
    assert fetch.not_after == cert.not_valid_after_utc
    if fetch.fresh_until is not None:
        # §4.3: a cache must treat the response as stale by the end of its effective lifetime.
        assert fetch.fresh_until <= fetch.not_after


async def next_distinct_certificate(
    fetch: Callable[[], Awaitable[StarFetch]], previous: StarFetch
) -> StarFetch:
    """The next certificate served at the STAR URL, awaited within `previous`'s lifetime."""
    previous_serial = leaf(previous.chain_pem).serial_number

    async def renewed() -> StarFetch | None:
        if previous.fresh_until is not None and datetime.now(timezone.utc) < previous.fresh_until:
            return None  # still fresh: the server said not to expect a new one yet
        current = await fetch()
        return current if leaf(current.chain_pem).serial_number != previous_serial else None

    remaining = (previous.not_after - datetime.now(timezone.utc)).total_seconds()
    return await async_wait_for(
        renewed,
        timeout=max(remaining, 1.0),
        what=f"a certificate other than serial {previous_serial:x} before {previous.not_after}",
        interval=0.5,
    )

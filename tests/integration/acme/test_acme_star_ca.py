"""The ACME client against the real STAR CA over HTTPS, with dns-01 answered in the real BIND 9.

Each test uses a name of its own under the shared zone. Renewal waits follow the server's
`Cache-Control` / `Cert-Not-After` (see star_helpers.next_distinct_certificate); no fixed sleeps.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from star_devenv.ca import LocalCA
from star_devenv.dns import LocalDNS
from star_operator.acme import (
    AcmeClient,
    AcmeProblem,
    AcmeTlsError,
    AutoRenewal,
    fetch_star_certificate,
)
from star_operator.dns01 import Rfc2136Solver
from tests.integration.acme.star_helpers import (  # noqa: F401 - fixtures
    STAR_LIFETIME,
    assert_headers_match_certificate,
    leaf,
    make_csr,
    new_account_key,
    next_distinct_certificate,
    san_names,
    solver,
    star_ca,
    unique_name,
)

pytestmark = pytest.mark.dns


@pytest.fixture
async def client(star_ca: LocalCA) -> AsyncIterator[AcmeClient]:
    """A registered client trusting the CA's root through a bundle *path*."""
    bundle = str(star_ca.root_pem_path)
    async with AcmeClient(star_ca.directory_url, new_account_key(), ca_bundle=bundle) as c:
        await c.register(["mailto:dno@star.test"])
        yield c


def _root(star_ca: LocalCA) -> x509.Certificate:
    return x509.load_pem_x509_certificates(star_ca.root_pem_path.read_bytes())[0]


def _issued_by_ca(chain_pem: str, star_ca: LocalCA) -> bool:
    """Each certificate of the chain is signed by the next, the last by the CA root."""
    chain = x509.load_pem_x509_certificates(chain_pem.encode())
    root = _root(star_ca)
    for child, parent in zip(chain, chain[1:] + [root]):
        if child == parent:
            continue
        child.verify_directly_issued_by(parent)
    return True


async def test_directory_advertises_star(client: AcmeClient) -> None:
    directory = await client.directory()
    assert directory.star is not None
    assert directory.star.allow_certificate_get is True
    assert directory.star.min_lifetime <= STAR_LIFETIME
    assert directory.revoke_cert


async def test_account_is_found_by_key_and_unknown_key_is_refused(star_ca: LocalCA) -> None:
    key = new_account_key()
    bundle = star_ca.root_pem_path.read_text()  # PEM text form of the bundle
    async with AcmeClient(star_ca.directory_url, key, ca_bundle=bundle) as first:
        created = await first.register(["mailto:dno@star.test"])
    async with AcmeClient(star_ca.directory_url, key, ca_bundle=bundle) as again:
        assert await again.register(only_existing=True) == created
        assert await again.register() == created  # same key: same account, no duplicate
    async with AcmeClient(star_ca.directory_url, new_account_key(), ca_bundle=bundle) as stranger:
        with pytest.raises(AcmeProblem) as info:
            await stranger.register(only_existing=True)
    assert info.value.short_type == "accountDoesNotExist"


async def test_bad_nonce_from_the_real_ca_is_retried(client: AcmeClient) -> None:
    client.transport.nonces._nonces.append("bm90LWEtbm9uY2U")  # a nonce the CA never issued
    order = await client.new_order([unique_name("star.test")])
    assert order.status == "pending"


async def test_ordinary_order_issue_download_revoke(
    client: AcmeClient, solver: Rfc2136Solver, dns_server: LocalDNS, star_ca: LocalCA
) -> None:
    names = [unique_name(dns_server.zone), unique_name(dns_server.zone)]
    order = await client.new_order(names, None)
    assert order.auto_renewal is None and set(order.names) == set(names)
    await client.solve_authorizations(order, solver)
    _, csr_der = make_csr(names)
    done = await client.finalize(order, csr_der)
    assert done.status == "valid" and done.certificate and not done.star_certificate

    chain = await client.download_certificate(done.certificate)
    assert san_names(leaf(chain)) == set(names)
    assert _issued_by_ca(chain, star_ca)

    await client.revoke(chain, reason=4)
    with pytest.raises(AcmeProblem) as info:
        await client.revoke(chain)
    assert info.value.short_type == "alreadyRevoked"


async def test_star_order_renews_then_cancel_stops_it(
    client: AcmeClient, solver: Rfc2136Solver, dns_server: LocalDNS, star_ca: LocalCA
) -> None:
    name = unique_name(dns_server.zone, "star")
    end = datetime.now(timezone.utc) + timedelta(minutes=10)
    order = await client.new_order([name], AutoRenewal(end_date=end, lifetime=STAR_LIFETIME))
    assert order.auto_renewal is not None
    assert order.auto_renewal["lifetime"] == STAR_LIFETIME
    assert order.auto_renewal.get("allow-certificate-get") is True

    await client.solve_authorizations(order, solver)
    _, csr_der = make_csr([name])
    order = await client.finalize(order, csr_der)
    assert order.status == "valid" and order.star_certificate
    url = order.star_certificate

    first = await client.fetch_star_certificate(url)  # unauthenticated GET
    assert_headers_match_certificate(first)
    assert san_names(leaf(first.chain_pem)) == {name}
    assert _issued_by_ca(first.chain_pem, star_ca)
    assert leaf(first.chain_pem).not_valid_after_utc <= end

    same = await client.fetch_star_certificate(url, authenticated=True)  # POST-as-GET still works
    assert leaf(same.chain_pem).serial_number == leaf(first.chain_pem).serial_number
    assert_headers_match_certificate(same)

    with pytest.raises(AcmeProblem) as revoke_info:
        await client.revoke(first.chain_pem)
    assert revoke_info.value.short_type == "autoRenewalRevocationNotSupported"
    assert revoke_info.value.status == 403

    second = await next_distinct_certificate(lambda: client.fetch_star_certificate(url), first)
    third = await next_distinct_certificate(
        lambda: client.fetch_star_certificate(url, authenticated=True), second
    )
    for fetched in (second, third):
        assert_headers_match_certificate(fetched)
        assert san_names(leaf(fetched.chain_pem)) == {name}
    serials = {leaf(f.chain_pem).serial_number for f in (first, second, third)}
    assert len(serials) == 3

    canceled = await client.cancel_order(order.url)
    assert canceled.status == "canceled"
    assert (await client.get_order(order.url)).status == "canceled"

    for authenticated in (False, True):
        with pytest.raises(AcmeProblem) as info:
            await client.fetch_star_certificate(url, authenticated=authenticated)
        assert info.value.short_type == "autoRenewalCanceled"
        assert info.value.status == 403

    with pytest.raises(AcmeProblem) as again:
        await client.cancel_order(order.url)
    assert again.value.short_type == "autoRenewalCancellationInvalid"
    assert again.value.status == 400


async def test_failed_dns01_is_a_typed_problem_naming_the_name(
    client: AcmeClient, dns_server: LocalDNS
) -> None:
    class SilentSolver:
        """Publishes nothing, so the CA finds no TXT record."""

        async def present(self, domain: str, value: str) -> None:
            return None

        async def cleanup(self, domain: str, value: str) -> None:
            return None

    name = unique_name(dns_server.zone, "nodns")
    order = await client.new_order([name])
    with pytest.raises(AcmeProblem) as info:
        await client.solve_authorizations(order, SilentSolver())
    assert info.value.identifier == {"type": "dns", "value": name}
    assert info.value.short_type in {"dns", "unauthorized", "incorrectResponse"}


def _unrelated_root_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Some Other Root")])
    now = datetime.now(timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


async def test_wrong_ca_bundle_fails_tls_clearly(star_ca: LocalCA) -> None:
    wrong = _unrelated_root_pem()
    async with AcmeClient(star_ca.directory_url, new_account_key(), ca_bundle=wrong) as c:
        with pytest.raises(AcmeTlsError) as info:
            await c.directory()
    message = str(info.value)
    assert star_ca.directory_url in message
    assert "certificate verification failed" in message and "CA bundle" in message


async def test_system_trust_store_does_not_trust_the_private_ca(star_ca: LocalCA) -> None:
    """No bundle means system roots, never 'verification off'."""
    with pytest.raises(AcmeTlsError):
        await fetch_star_certificate(None, star_ca.base_url + "/acme/star/anything")

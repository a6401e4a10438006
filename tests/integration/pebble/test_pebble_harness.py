"""The Pebble harness (star_devenv.pebble) against the real BIND 9, driven by the project's client.

Pebble is the "CA nobody here wrote": if the operator's ACME client registers, orders, answers
dns-01 through RFC 2136, finalizes and revokes there, it is not fitted to `star_ca` alone. Each
test orders names of its own; Pebble's 5 % badNonce rejection stays on throughout.
"""
from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store

from star_devenv.dns import LocalDNS
from star_devenv.pebble import LocalPebble
from star_operator.acme import AcmeClient
from star_operator.dns01 import Rfc2136Solver
from tests.integration.acme.star_helpers import (  # noqa: F401 - solver is a fixture
    leaf,
    make_csr,
    new_account_key,
    san_names,
    solver,
    unique_name,
)

pytestmark = pytest.mark.dns

# Pebble 2.4.0's default certificateValidityPeriod (157766400 s), minus the second it subtracts.
PEBBLE_VALIDITY = timedelta(seconds=157766400 - 1)
REVOKE_REASON = 5  # cessationOfOperation: what the operator sends when a delegation ends


@pytest.fixture
async def client(pebble: LocalPebble) -> AsyncIterator[AcmeClient]:
    """A registered client trusting what a CsrTemplate's caBundle Secret would hold."""
    bundle = pebble.trust_bundle_pem()
    async with AcmeClient(pebble.directory_url, new_account_key(), ca_bundle=bundle) as c:
        await c.register(["mailto:dno@star.test"])
        yield c


async def issue(client: AcmeClient, solver: Rfc2136Solver, name: str) -> str:
    """Order `name`, answer dns-01 in BIND, finalize and return the downloaded PEM chain."""
    order = await client.new_order([name], None)
    await client.solve_authorizations(order, solver)
    _, csr_der = make_csr([name])
    final = await client.finalize(order, csr_der)
    assert final.certificate
    return await client.download_certificate(final.certificate)


def verify_chain(chain_pem: str, roots_pem: str, name: str) -> x509.Certificate:
    """RFC 5280 path validation of the served chain up to one of `roots_pem`, for `name`."""
    chain = x509.load_pem_x509_certificates(chain_pem.encode())
    store = Store(x509.load_pem_x509_certificates(roots_pem.encode()))
    verifier = PolicyBuilder().store(store).build_server_verifier(x509.DNSName(name))
    verifier.verify(chain[0], chain[1:])
    return chain[0]


async def test_directory_is_plain_rfc8555(client: AcmeClient) -> None:
    directory = await client.directory()
    assert directory.star is None
    assert "auto-renewal" not in directory.raw.get("meta", {})
    assert directory.revoke_cert and directory.key_change


def test_roots_are_fresh_per_start_and_bundle_holds_both_anchors(
    pebble: LocalPebble, dns_server: LocalDNS
) -> None:
    roots = x509.load_pem_x509_certificates(pebble.issuer_roots_pem().encode())
    bundle = x509.load_pem_x509_certificates(pebble.trust_bundle_pem().encode())
    tls_root = x509.load_pem_x509_certificate(pebble.tls_root_pem.encode())
    assert bundle == [tls_root, *roots]
    with LocalPebble(dns_server=dns_server.server) as other:
        assert x509.load_pem_x509_certificates(other.issuer_roots_pem().encode()) != roots


async def test_issue_verify_and_revoke(
    pebble: LocalPebble, client: AcmeClient, solver: Rfc2136Solver, dns_server: LocalDNS
) -> None:
    name = unique_name(dns_server.zone, "pebble")
    chain_pem = await issue(client, solver, name)

    cert = verify_chain(chain_pem, pebble.issuer_roots_pem(), name)
    assert san_names(cert) == {name}
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == PEBBLE_VALIDITY
    assert pebble.revocation_status(chain_pem) == "Valid"

    await client.revoke(chain_pem, reason=REVOKE_REASON)
    assert pebble.revocation_status(cert.serial_number) == f"Revoked (reason {REVOKE_REASON})"


def test_unknown_serial_is_a_lookup_error(pebble: LocalPebble) -> None:
    with pytest.raises(LookupError, match="abc123"):
        pebble.revocation_status("0xABC123")


async def test_client_retries_survive_default_bad_nonce_rate(
    client: AcmeClient, dns_server: LocalDNS, caplog: pytest.LogCaptureFixture
) -> None:
    """150 signed requests at 5 % rejection: P(no badNonce at all) is 0.95^150 < 0.05 %."""
    caplog.set_level(logging.DEBUG, logger="star_operator.acme.transport")
    order = await client.new_order([unique_name(dns_server.zone, "nonce")], None)
    for _ in range(150):
        assert (await client.get_order(order.url)).status == "pending"
    assert any("badNonce" in r.getMessage() for r in caplog.records)


async def test_env_reaches_pebble_authz_reuse(
    dns_server: LocalDNS, solver: Rfc2136Solver
) -> None:
    """With PEBBLE_AUTHZREUSE=100 a second order for a validated name needs no challenge."""
    name = unique_name(dns_server.zone, "reuse")
    with LocalPebble(dns_server=dns_server.server, env={"PEBBLE_AUTHZREUSE": "100"}) as reusing:
        bundle = reusing.trust_bundle_pem()
        async with AcmeClient(reusing.directory_url, new_account_key(), ca_bundle=bundle) as c:
            await c.register()
            await issue(c, solver, name)
            again = await c.new_order([name], None)
    assert again.status == "ready"

"""Issue 4 "Done when": a complete STAR issuance with the three library pieces alone, no Kubernetes.

template check → key + CSR → STAR order at `star_ca` (HTTPS) → dns-01 via BIND 9 (RFC 2136 +
TSIG) → finalize → three consecutive certificates fetched from the `star-certificate` URL the way
a CDN does (unauthenticated GET, no account) → cancel → the next fetch raises the typed
`autoRenewalCanceled` problem. Renewal waits follow `Cache-Control` and `Cert-Not-After`.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives import serialization

from star_devenv.ca import LocalCA
from star_devenv.dns import LocalDNS
from star_operator.acme import AcmeClient, AcmeProblem, AutoRenewal, fetch_star_certificate
from star_operator.csr_template import (
    DomainPolicy,
    TemplateRequestError,
    check_csr,
    generate_key_and_csr,
    load_template,
)
from star_operator.dns01 import Rfc2136Solver
from tests.integration.acme.star_helpers import (  # noqa: F401 - fixtures
    STAR_LIFETIME,
    assert_headers_match_certificate,
    leaf,
    new_account_key,
    next_distinct_certificate,
    san_names,
    solver,
    star_ca,
    unique_name,
)

pytestmark = pytest.mark.dns

# RFC 9115 §4 example, adapted: the CDN picks the name ("**"), the DNO's policy keeps it under
# the DNO's zone; EC P-256 or RSA-2048 keys; serverAuth only.
TEMPLATE_YAML = """
keyTypes:
  - PublicKeyType: id-ecPublicKey
    namedCurve: secp256r1
    SignatureType: ecdsa-with-SHA256
  - PublicKeyType: rsaEncryption
    PublicKeyLength: 2048
    SignatureType: sha256WithRSAEncryption
subject:
  commonName: "**"
extensions:
  subjectAltName:
    DNS: ["**"]
  keyUsage: [digitalSignature]
  extendedKeyUsage: [serverAuth]
"""


def _public_der(key_or_cert_key: object) -> bytes:
    return key_or_cert_key.public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


async def test_star_issuance_end_to_end(
    star_ca: LocalCA, dns_server: LocalDNS, solver: Rfc2136Solver
) -> None:
    # 1. Template + policy; requests outside them are refused before anything reaches the CA.
    template = load_template(TEMPLATE_YAML)
    policy = DomainPolicy([dns_server.zone])
    with pytest.raises(TemplateRequestError):
        generate_key_and_csr(template, policy, ["www.not-the-dno.test"], "ecdsa-p256")

    # 2. Key + CSR for a name of this test, checked against the template like the DNO does.
    name = unique_name(dns_server.zone, "cdn")
    request = generate_key_and_csr(template, policy, [name], "ecdsa-p256")
    assert check_csr(request.csr, template, policy) == []
    private_key = serialization.load_pem_private_key(request.key_pem, password=None)

    bundle = str(star_ca.root_pem_path)
    async with AcmeClient(star_ca.directory_url, new_account_key(), ca_bundle=bundle) as dno:
        await dno.register(["mailto:dno@star.test"])
        assert (await dno.directory()).star is not None

        # 3. STAR order.
        end = datetime.now(timezone.utc) + timedelta(minutes=10)
        order = await dno.new_order([name], AutoRenewal(end_date=end, lifetime=STAR_LIFETIME))
        assert order.status == "pending" and order.auto_renewal is not None

        # 4. dns-01 through BIND 9, then 5. finalize.
        await dno.solve_authorizations(order, solver)
        assert dns_server.query(f"_acme-challenge.{name}", "TXT") == []  # cleaned up
        csr_der = request.csr.public_bytes(serialization.Encoding.DER)
        order = await dno.finalize(order, csr_der)
        assert order.status == "valid" and order.star_certificate
        star_url = order.star_certificate

        # 6. Three consecutive certificates, fetched as a CDN would: GET, no account.
        async def cdn_fetch():
            return await fetch_star_certificate(None, star_url, bundle)

        fetches = [await cdn_fetch()]
        while len(fetches) < 3:
            fetches.append(await next_distinct_certificate(cdn_fetch, fetches[-1]))

        serials = set()
        for fetched in fetches:
            assert_headers_match_certificate(fetched)
            cert = leaf(fetched.chain_pem)
            assert san_names(cert) == {name}
            assert _public_der(cert.public_key()) == _public_der(private_key.public_key())
            assert cert.not_valid_after_utc <= end
            # Short-term: the lifetime plus at most a back-dating pad of one lifetime (§3.5).
            assert cert.not_valid_after_utc - cert.not_valid_before_utc <= timedelta(
                seconds=2 * STAR_LIFETIME
            )
            serials.add(cert.serial_number)
        assert len(serials) == 3
        # Each next certificate was valid before the previous one expired (no gap for the CDN).
        for older, newer in zip(fetches, fetches[1:]):
            assert newer.not_before <= older.not_after

        # 7. Cancel; 8. the next fetch is the typed cancellation error.
        canceled = await dno.cancel_order(order.url)
        assert canceled.status == "canceled"

    with pytest.raises(AcmeProblem) as info:
        await cdn_fetch()
    assert info.value.short_type == "autoRenewalCanceled"
    assert info.value.status == 403

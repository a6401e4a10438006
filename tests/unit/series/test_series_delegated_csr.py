"""An emulated series for an outside CSR (spec.csr): every renewal uses that CSR, never a new
key (whatever rotationPolicy says), and installs against its public key."""
from __future__ import annotations

import types

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from star_operator import pem
from star_operator.series import renewal

KEY = ec.generate_private_key(ec.SECP256R1())
CSR = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(
    [x509.NameAttribute(NameOID.COMMON_NAME, "www.star.test")])).sign(
    KEY, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


def context(csr: str | None) -> renewal.SeriesContext:
    job = types.SimpleNamespace(namespace="ns", name="web", claim=None,
                                spec={"secretName": "web-tls", "rotationPolicy": "Always"},
                                recorder=types.SimpleNamespace(get=lambda *_: None))
    return renewal.SeriesContext(job=job, policy=types.SimpleNamespace(name="dno"),
                                 material=types.SimpleNamespace(ca_pem=None), client=None,
                                 req=types.SimpleNamespace(names=("www.star.test",)),
                                 csr=csr)  # type: ignore[arg-type]


async def test_the_next_certificate_is_ordered_with_the_given_csr_despite_always() -> None:
    assert await renewal._next_csr(context(CSR)) == CSR  # no key generated, none staged


def test_the_target_carries_the_csrs_public_key_and_an_own_key_series_none() -> None:
    target = context(CSR).target
    assert pem.spki_der(target.public_key) == pem.spki_der(KEY.public_key())
    assert context(None).target.public_key is None

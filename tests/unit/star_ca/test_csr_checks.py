"""Finalize-time CSR checks: names equal to the order, key strength, signature."""
from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from star_ca.ca.csr import CsrError, check_csr


def csr(names: list[str], key: object = None, cn: str | None = None) -> bytes:
    key = key or ec.generate_private_key(ec.SECP256R1())
    b = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn or names[0])]))
    b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
    return b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)  # type: ignore[arg-type]


def test_matching_names() -> None:
    check_csr(csr(["a.test", "*.a.test"]), ["*.a.test", "a.test"])


@pytest.mark.parametrize("der, message", [
    (lambda: csr(["a.test", "b.test"]), "names not in the order: b.test"),
    (lambda: csr(["a.test"], cn="c.test"), "names not in the order: c.test"),
    (lambda: csr(["z.test"], cn="z.test"), "missing from the CSR: a.test"),
    (lambda: csr(["a.test"], rsa.generate_private_key(65537, 1024)), "1024 bits"),
    (lambda: csr(["a.test"], ec.generate_private_key(ec.SECP256K1())), "curve"),
    (lambda: b"\x30\x03\x02\x01\x00", "not a valid DER"),
])
def test_rejections(der: object, message: str) -> None:
    with pytest.raises(CsrError, match=message):
        check_csr(der(), ["a.test"])  # type: ignore[operator]


def test_bad_signature() -> None:
    der = bytearray(csr(["a.test"]))
    der[-5] ^= 0xFF
    with pytest.raises(CsrError):
        check_csr(bytes(der), ["a.test"])

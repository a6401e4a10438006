"""PEM parsing helpers shared by the verifier, the Secret writer and the order logic."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes


class PemError(ValueError):
    """Input is not the PEM we need."""


def _as_bytes(data: str | bytes) -> bytes:
    return data.encode("ascii") if isinstance(data, str) else data


def load_chain(pem: str | bytes) -> list[x509.Certificate]:
    """All certificates in a PEM bundle, in order (leaf first for a chain)."""
    try:
        certs = x509.load_pem_x509_certificates(_as_bytes(pem))
    except ValueError as exc:
        raise PemError(f"not a PEM certificate chain: {exc}") from exc
    if not certs:
        raise PemError("no certificate in PEM data")
    return certs


def load_private_key(pem: str | bytes) -> PrivateKeyTypes:
    """A private key from unencrypted PEM (PKCS#8 or traditional)."""
    try:
        return serialization.load_pem_private_key(_as_bytes(pem), password=None)
    except (ValueError, TypeError) as exc:
        raise PemError(f"not an unencrypted PEM private key: {exc}") from exc


def spki_der(key: PublicKeyTypes) -> bytes:
    """SubjectPublicKeyInfo DER: the canonical form to compare public keys by."""
    return key.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def dump_chain(certs: list[x509.Certificate]) -> bytes:
    """PEM bundle of ``certs``, normalised (one trailing newline each)."""
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def dns_names(cert: x509.Certificate) -> list[str]:
    """The DNS SAN values of ``cert`` (empty if it has no SAN extension)."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return san.get_values_for_type(x509.DNSName)


def common_name(cert: x509.Certificate) -> str | None:
    """The subject CN, if any."""
    attrs = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else None

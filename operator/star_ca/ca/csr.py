"""Finalize-time CSR checks: signature, key strength, and names equal to the order's.

Each check returns a precise reason so the client gets a ``badCSR`` it can act on (which name
is extra, which is missing, what is wrong with the key).
"""
from __future__ import annotations

from cryptography import x509
from cryptography.x509.oid import NameOID

from star_ca.ca.keys import key_problem


class CsrError(ValueError):
    """The CSR is unacceptable; ``str()`` is the client-facing detail."""


def parse_csr(der: bytes) -> x509.CertificateSigningRequest:
    try:
        csr = x509.load_der_x509_csr(der)
        valid = csr.is_signature_valid
    except Exception as exc:  # cryptography raises several types for junk DER
        raise CsrError(f"CSR is not a valid DER PKCS#10 request: {exc}") from None
    if not valid:
        raise CsrError("CSR signature does not verify")
    return csr


def csr_names(csr: x509.CertificateSigningRequest) -> set[str]:
    """SAN dNSNames plus the subject CN (which must then also be a requested name)."""
    names: set[str] = set()
    try:
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        names.update(n.lower() for n in san.value.get_values_for_type(x509.DNSName))
        if san.value.get_values_for_type(x509.IPAddress):
            raise CsrError("CSR requests IP address SANs; only dns identifiers are supported")
    except x509.ExtensionNotFound:
        pass
    except ValueError as exc:
        raise CsrError(f"CSR extensions are malformed: {exc}") from None
    try:  # decoded lazily: a validly signed CSR with a bad string encoding raises only here
        common_names = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    except (ValueError, TypeError) as exc:  # TypeError: a commonName typed BIT STRING
        raise CsrError(f"CSR subject is malformed: {exc}") from None
    for attr in common_names:
        if not isinstance(attr.value, str):  # only X500UniqueIdentifier values are bytes
            raise CsrError("CSR subject commonName is not a character string")
        names.add(attr.value.lower())
    return names


def check_csr(der: bytes, identifiers: list[str]) -> x509.CertificateSigningRequest:
    """The parsed CSR when it matches the order exactly; CsrError naming the problem."""
    csr = parse_csr(der)
    problem = key_problem(csr.public_key())
    if problem:
        raise CsrError(f"CSR public key rejected: {problem}")
    names, wanted = csr_names(csr), set(identifiers)
    extra, missing = sorted(names - wanted), sorted(wanted - names)
    if extra or missing:
        parts = ([f"names not in the order: {', '.join(extra)}"] if extra else []) + \
                ([f"order identifiers missing from the CSR: {', '.join(missing)}"]
                 if missing else [])
        raise CsrError("CSR names do not match the order: " + "; ".join(parts))
    return csr

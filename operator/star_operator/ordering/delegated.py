"""A StarOrder whose CSR comes from outside (``spec.csr``): RFC 9115's delegated certificate.

The CDN (RFC 9115's NDC) keeps its private key; the DNO's cluster only ever sees its CSR. So
for such a StarOrder the operator generates no key and stages none, never creates a
StarCertificate (which needs a key to verify against), and never rotates the key: every
certificate of the series is ordered with this one CSR. What it still checks is what the DNO
answers for: the CSR is one, its names are the ordered ones, and it fits the CsrTemplate (the
same checker as for the operator's own CSRs, so a refusal reads the same).

Pure functions: :mod:`.issuance` turns the violations into ``Ready=False`` plus an Event.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from star_operator.csr_template import Violation, check_csr
from star_operator.csr_template.names import normalize_dns
from star_operator.ordering.templates import TemplatePolicy

FIELD = "spec.csr"


def csr_text(spec: Mapping[str, Any]) -> str | None:
    """The outside CSR (None: the operator makes key and CSR itself, the single-cluster way)."""
    value = spec.get("csr")
    return value if isinstance(value, str) and value.strip() else None


def ordered_csr(spec: Mapping[str, Any], ordered: Mapping[str, Any] | None) -> str | None:
    """The outside CSR an order was placed with: the record (``status.ordered``) once there is
    one, so that editing ``spec.csr`` in or out later never turns a running order into the
    other kind (the edit itself is refused as ``ImmutableFieldChanged``)."""
    return csr_text(ordered) if ordered else csr_text(spec)


def load(text: str) -> x509.CertificateSigningRequest:
    """Parse ``spec.csr``; ValueError with a message fit for a condition."""
    try:
        return x509.load_pem_x509_csr(text.strip().encode())
    except ValueError as exc:
        raise ValueError(f"not a PEM certificate signing request: {exc}") from exc


def csr_names(csr: x509.CertificateSigningRequest) -> set[str]:
    """The CSR's subjectAltName DNS names, normalized (lower case, no trailing dot)."""
    try:
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, ValueError):
        return set()
    return {normalize_dns(n) for n in san.get_values_for_type(x509.DNSName)}


def check(spec: Mapping[str, Any], policy: TemplatePolicy
          ) -> tuple[x509.CertificateSigningRequest | None, list[Violation]]:
    """(the CSR, every reason it may not be ordered): unparseable, names other than
    ``spec.dnsNames``, or outside the template (the template's field named)."""
    text = csr_text(spec)
    assert text is not None
    try:
        csr = load(text)
    except ValueError as exc:
        return None, [Violation(FIELD, str(exc))]
    out = []
    given, wanted = csr_names(csr), {normalize_dns(n) for n in spec.get("dnsNames") or ()}
    if given != wanted:
        out.append(Violation(FIELD, f"the CSR's subjectAltName DNS names "
                                    f"[{', '.join(sorted(given))}] are not spec.dnsNames "
                                    f"[{', '.join(sorted(wanted))}]"))
    out += check_csr(csr, policy.template, policy.domains)
    return csr, out


def pem_of(csr: x509.CertificateSigningRequest) -> str:
    """The canonical PEM recorded in ``status.csr``."""
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def public_key(csr_pem: str) -> PublicKeyTypes:
    """The key every certificate of a delegated StarOrder must carry."""
    return x509.load_pem_x509_csr(csr_pem.encode()).public_key()

"""Check a CSR against a template and the DNO's domain policy (RFC 9115 §4.1).

The DNO "MUST verify that the CSR is consistent with the template", and the client "MUST NOT
include in the CSR any fields, including any extensions, unless they are specified in the
template". Every deviation is collected, not just the first, so that a StarOrder's status or an
RFC 7807 problem document can list them all with the exact field named.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm

from .check_extensions import check_extensions
from .keys import key_type_matches, public_key_info, signature_type
from .model import CsrTemplate
from .names import normalize_dns
from .policy import DomainPolicy
from .violation import Violation
from .vocab import MANDATORY, OPTIONAL, SUBJECT_NAMES_BY_OID

# PKCS#9 extensionRequest: the attribute that carries the extensions checked separately.
_EXTENSION_REQUEST = x509.ObjectIdentifier("1.2.840.113549.1.9.14")


def check_csr(csr: x509.CertificateSigningRequest, template: CsrTemplate,
              policy: DomainPolicy) -> list[Violation]:
    """All violations of ``template`` / ``policy`` by ``csr``; an empty list means it conforms."""
    out: list[Violation] = []
    out += _check_signature(csr)
    out += _check_key_type(csr, template)
    out += _check_subject(csr, template, policy)
    out += _check_attributes(csr)
    out += check_extensions(csr, template, policy)
    return out


def placeholder_name_allowed(value: str, template: CsrTemplate, policy: DomainPolicy) -> bool:
    """May a client-chosen commonName be ``value``? Within policy, or a name the DNO listed."""
    return policy.allows(value) or normalize_dns(value) in template.dns


def _check_signature(csr: x509.CertificateSigningRequest) -> list[Violation]:
    """Proof of possession: the CSR must be signed by the key it carries."""
    try:
        valid = csr.is_signature_valid
    except (UnsupportedAlgorithm, ValueError) as exc:
        return [Violation("signature", f"cannot verify the CSR signature: {exc}")]
    return [] if valid else [Violation("signature", "the CSR signature is not valid")]


def _check_key_type(csr: x509.CertificateSigningRequest,
                    template: CsrTemplate) -> list[Violation]:
    """SPKI type + size/curve + signature type must all fit one and the same keyTypes entry."""
    try:
        key = public_key_info(csr.public_key())
    except (UnsupportedAlgorithm, ValueError) as exc:
        return [Violation("keyTypes", f"unsupported public key: {exc}")]
    sig = signature_type(csr)
    if any(key_type_matches(entry, key, sig) for entry in template.key_types):
        return []
    allowed = "; ".join(entry.describe() for entry in template.key_types)
    return [Violation("keyTypes", f"{key.describe()} with {sig} is not allowed "
                                  f"(allowed: {allowed})")]


def _check_attributes(csr: x509.CertificateSigningRequest) -> list[Violation]:
    """PKCS#10 attributes other than extensionRequest (e.g. challengePassword) are outside."""
    try:
        attributes = list(csr.attributes)
    except ValueError as exc:
        return [Violation("attributes", f"cannot parse the CSR attributes: {exc}")]
    return [Violation("attributes", f"CSR attribute {a.oid.dotted_string} is not in the template")
            for a in attributes if a.oid != _EXTENSION_REQUEST]


def _check_subject(csr: x509.CertificateSigningRequest, template: CsrTemplate,
                   policy: DomainPolicy) -> list[Violation]:
    """Each attribute: literal = present and equal, ``**`` = present, ``*`` = optional."""
    try:
        subject = list(csr.subject)  # decoded lazily: a bad string encoding raises only here
    except (ValueError, TypeError) as exc:  # TypeError: e.g. a commonName typed BIT STRING
        return [Violation("subject", f"cannot parse the CSR subject: {exc}")]
    out: list[Violation] = []
    found: dict[str, list[str]] = {}
    for attr in subject:
        name = SUBJECT_NAMES_BY_OID.get(attr.oid)
        value = attr.value if isinstance(attr.value, str) else repr(attr.value)
        if name is None:
            out.append(Violation("subject", f"attribute {attr.oid.dotted_string} = {value!r} "
                                            "is not in the template"))
        elif name not in template.subject:
            out.append(Violation(f"subject.{name}", f"{value!r} given, but the template has "
                                                    f"no {name}"))
        else:
            found.setdefault(name, []).append(value)
    for name, spec in template.subject.items():
        field = f"subject.{name}"
        values = found.get(name, [])
        if len(values) > 1:
            out.append(Violation(field, f"appears {len(values)} times; the template allows one"))
        elif not values and spec != OPTIONAL:
            need = "a value chosen by the client" if spec == MANDATORY else repr(spec)
            out.append(Violation(field, f"mandatory attribute is missing (needs {need})"))
        elif values and spec not in (MANDATORY, OPTIONAL) and values[0] != spec:
            out.append(Violation(field, f"must be {spec!r}, CSR has {values[0]!r}"))
        elif values and name == "commonName" and spec in (MANDATORY, OPTIONAL) \
                and not placeholder_name_allowed(values[0], template, policy):
            out.append(Violation(field, f"{values[0]!r} is outside the allowed domains "
                                        f"({policy.describe()})"))
    return out

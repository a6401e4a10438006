"""Extension checks of a CSR: subjectAltName, keyUsage, extendedKeyUsage, and nothing else.

Kept apart from the subject / key checks because SAN matching carries most of the delegation's
security: a name the DNO did not list (or, for a placeholder, a name outside its policy domains)
must never reach the CA.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from cryptography import x509

from .matching import match_entries
from .model import CsrTemplate
from .names import is_dns_name
from .policy import DomainPolicy
from .violation import Violation
from .vocab import KEY_USAGES, eku_label, eku_oid

SAN = "extensions.subjectAltName"
_Ext = TypeVar("_Ext", bound=x509.ExtensionType)


def check_extensions(csr: x509.CertificateSigningRequest, template: CsrTemplate,
                     policy: DomainPolicy) -> list[Violation]:
    """SAN as matched to the template, KU / EKU exactly as listed, no other extension."""
    try:
        extensions = list(csr.extensions)
    except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType) as exc:
        return [Violation("extensions", f"cannot parse the CSR extensions: {exc}")]
    out: list[Violation] = []
    for ext in extensions:
        if not isinstance(ext.value, (x509.SubjectAlternativeName, x509.KeyUsage,
                                      x509.ExtendedKeyUsage)):
            kind = type(ext.value).__name__
            label = ext.oid.dotted_string if kind == "UnrecognizedExtension" else \
                f"{kind} ({ext.oid.dotted_string})"
            out.append(Violation("extensions", f"extension {label} is not in the template"))
    san = _find(extensions, x509.SubjectAlternativeName)
    out += _check_san(list(san) if san is not None else [], template, policy)
    out += _check_key_usage(_find(extensions, x509.KeyUsage), template.key_usage)
    out += _check_eku(_find(extensions, x509.ExtendedKeyUsage), template.extended_key_usage)
    return out


def _find(extensions: list[x509.Extension[x509.ExtensionType]], kind: type[_Ext]) -> _Ext | None:
    """The value of the extension of ``kind`` (cryptography has refused duplicates already)."""
    for ext in extensions:
        if isinstance(ext.value, kind):
            return ext.value
    return None


def _check_san(names: list[x509.GeneralName], template: CsrTemplate,
               policy: DomainPolicy) -> list[Violation]:
    out: list[Violation] = []
    dns: list[str] = []
    email: list[str] = []
    uri: list[str] = []
    for name in names:
        if isinstance(name, x509.DNSName):
            dns.append(name.value)
        elif isinstance(name, x509.RFC822Name):
            email.append(name.value)
        elif isinstance(name, x509.UniformResourceIdentifier):
            uri.append(name.value)
        else:
            out.append(Violation(SAN, f"{type(name).__name__} {name.value!r} is not allowed "
                                      "(the template can only list DNS, Email and URI names)"))
    # As written in the CSR (only case folded): a trailing root dot is not valid in a dNSName.
    out += [Violation(f"{SAN}.DNS", f"{v!r} is not a valid DNS name")
            for v in dns if not is_dns_name(v.lower())]
    out += _check_names(f"{SAN}.DNS", template.dns, dns, str.lower, policy)
    out += _check_names(f"{SAN}.Email", template.email, email, lambda v: v, None)
    out += _check_names(f"{SAN}.URI", template.uri, uri, lambda v: v, None)
    return out


def _check_names(field: str, entries: Sequence[str], values: Sequence[str],
                 normalize: Callable[[str], str],
                 policy: DomainPolicy | None) -> list[Violation]:
    """One SAN type; ``policy`` is None for types whose entries can only be literals."""
    m = match_entries(entries, values, normalize)
    out = [Violation(field, f"{v!r} appears more than once") for v in m.duplicates]
    out += [Violation(field, f"mandatory value {lit!r} is missing") for lit in m.missing_literals]
    if m.shortfall:
        out.append(Violation(field, f"the template requires {m.required} value(s) chosen by the "
                                    f"client ('**'), the CSR has {m.required - m.shortfall}"))
    out += [Violation(field, f"{v!r} is not in the template") for v in m.extra]
    if policy is not None:
        out += [Violation(field, f"{v!r} is outside the allowed domains ({policy.describe()})")
                for v in m.client_values if is_dns_name(v.lower()) and not policy.allows(v)]
    return out


def _key_usage_names(value: x509.KeyUsage) -> set[str]:
    """The RFC 5280 names set in a KeyUsage (encipher/decipherOnly only exist with keyAgreement)."""
    names = set()
    for name, attr in KEY_USAGES.items():
        if attr in ("encipher_only", "decipher_only") and not value.key_agreement:
            continue
        if getattr(value, attr):
            names.add(name)
    return names


def _check_key_usage(value: x509.KeyUsage | None,
                     expected: Sequence[str] | None) -> list[Violation]:
    have = None if value is None else _key_usage_names(value)
    return _exactly("keyUsage", "key usage", expected, have)


def _check_eku(value: x509.ExtendedKeyUsage | None,
               expected: Sequence[str] | None) -> list[Violation]:
    # Compare by OID so that "serverAuth" and "1.3.6.1.5.5.7.3.1" are the same usage.
    want = None if expected is None else [
        eku_label(oid) for oid in map(eku_oid, expected) if oid is not None]
    have = None if value is None else {eku_label(oid) for oid in value}
    return _exactly("extendedKeyUsage", "extended key usage", want, have)


def _exactly(name: str, what: str, want: Sequence[str] | None,
             have: set[str] | None) -> list[Violation]:
    """Exactly as the template says: absent stays absent; each missing / extra usage named."""
    field = f"extensions.{name}"
    if want is None:
        return [] if have is None else [Violation(field, f"the template has no {name}; the CSR "
                                                         "must not carry one")]
    if have is None:
        return [Violation(field, f"missing; the template requires {', '.join(want)}")]
    out = [Violation(field, f"{what} {u} required by the template is missing")
           for u in sorted(set(want) - have)]
    out += [Violation(field, f"{what} {u} is not in the template")
            for u in sorted(have - set(want))]
    return out

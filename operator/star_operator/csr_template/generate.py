"""Generate a private key and a CSR that satisfy a template (the CDN side of RFC 9115 §4).

The operator generates the key inside the cluster and must never send a CSR the DNO would reject,
so the request (names, key type, subject values) is mapped onto the template first and refused
with a specific reason if it cannot fit; the finished CSR is then run through ``check_csr`` as a
last guard, which makes "generated CSRs always pass the check" an enforced property.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from .check import check_csr, placeholder_name_allowed
from .keys import (
    KEY_TYPE_NAMES,
    PublicKeyInfo,
    generate_private_key,
    key_type_matches,
    signing_parameters,
)
from .matching import match_entries
from .model import CsrTemplate, KeyType
from .names import is_dns_name, normalize_dns
from .policy import DomainPolicy
from .vocab import KEY_USAGES, MANDATORY, OPTIONAL, SUBJECT_ATTRIBUTES, eku_oid

DNS_FIELD = "extensions.subjectAltName.DNS"


class TemplateRequestError(ValueError):
    """The template (with the policy) cannot satisfy the request; ``reason`` says why."""

    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(f"{field}: {reason}" if field else reason)
        self.reason = reason
        self.field = field


@dataclass(frozen=True)
class GeneratedRequest:
    """The new private key (PKCS#8 PEM, unencrypted: it goes into a Secret) and its CSR."""

    key_pem: bytes
    csr_pem: bytes
    csr: x509.CertificateSigningRequest


def generate_key_and_csr(template: CsrTemplate, policy: DomainPolicy, names: Sequence[str],
                         key_type: str,
                         subject: Mapping[str, str] | None = None) -> GeneratedRequest:
    """Make a key of ``key_type`` and a CSR for DNS ``names`` that passes ``check_csr``.

    Every DNS literal of the template must be among ``names`` (the names also become the ACME
    order's identifiers, so nothing is added behind the caller's back); other names fill ``**``
    and ``*`` entries and must lie within ``policy``. Email / URI literals, which are not ACME
    identifiers here, are always included. A ``**`` commonName defaults to the first name.
    """
    entry = _key_type_entry(template, key_type)
    dns_names = _dns_names(template, policy, names)
    name = _subject(template, policy, dict(subject or {}), dns_names)
    key = generate_private_key(key_type)
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    sans += [x509.RFC822Name(e) for e in template.email]
    sans += [x509.UniformResourceIdentifier(u) for u in template.uri]
    # RFC 5280 §4.2.1.6: the SAN extension is critical when the subject is empty.
    builder = x509.CertificateSigningRequestBuilder().subject_name(name).add_extension(
        x509.SubjectAlternativeName(sans), critical=len(name) == 0)
    if template.key_usage is not None:
        builder = builder.add_extension(_key_usage(template.key_usage), critical=True)
    if template.extended_key_usage is not None:
        oids = [oid for oid in map(eku_oid, template.extended_key_usage) if oid is not None]
        builder = builder.add_extension(x509.ExtendedKeyUsage(oids), critical=False)
    digest, rsa_padding = signing_parameters(entry.signature_type)
    csr = builder.sign(key, digest, rsa_padding=rsa_padding)
    problems = check_csr(csr, template, policy)
    if problems:  # a bug here, not a user error; never hand out a CSR the DNO would refuse
        raise TemplateRequestError("generated CSR does not conform: "
                                   + "; ".join(map(str, problems)))
    return GeneratedRequest(
        key_pem=key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()),
        csr_pem=csr.public_bytes(serialization.Encoding.PEM),
        csr=csr,
    )


def _key_type_entry(template: CsrTemplate, key_type: str) -> KeyType:
    """The first keyTypes entry for ``key_type``; its SignatureType decides the hash."""
    if key_type not in KEY_TYPE_NAMES:
        raise TemplateRequestError(f"unknown key type {key_type!r} (supported: "
                                   f"{', '.join(KEY_TYPE_NAMES)})", "keyTypes")
    info = PublicKeyInfo(*KEY_TYPE_NAMES[key_type])
    for entry in template.key_types:
        if key_type_matches(entry, info):
            return entry
    usable = [n for n, spec in KEY_TYPE_NAMES.items()
              if any(key_type_matches(e, PublicKeyInfo(*spec)) for e in template.key_types)]
    raise TemplateRequestError(
        f"key type {key_type} ({info.describe()}) is not allowed by the template (allowed: "
        f"{', '.join(usable) or 'none of the supported key types'})", "keyTypes")


def _dns_names(template: CsrTemplate, policy: DomainPolicy, names: Sequence[str]) -> list[str]:
    """Normalise and de-duplicate ``names`` and check they fill the template's DNS entries."""
    if isinstance(names, str):
        raise TemplateRequestError("names must be a list of DNS names, not one string", DNS_FIELD)
    wanted: list[str] = []
    for raw in names:
        name = normalize_dns(raw)
        if not is_dns_name(name):
            raise TemplateRequestError(f"{raw!r} is not a valid DNS name", DNS_FIELD)
        if name not in wanted:
            wanted.append(name)
    m = match_entries(template.dns, wanted)
    if m.missing_literals:
        raise TemplateRequestError(f"the template requires {', '.join(m.missing_literals)}; "
                                   "add it to the requested names", DNS_FIELD)
    if m.extra:
        raise TemplateRequestError(f"{', '.join(m.extra)} not allowed: not a literal name in the "
                                   "template and no '*'/'**' entry left for it", DNS_FIELD)
    if m.shortfall:
        raise TemplateRequestError(f"the template requires {m.required} name(s) chosen by the "
                                   f"client ('**'), only {m.required - m.shortfall} given",
                                   DNS_FIELD)
    outside = [n for n in m.client_values if not policy.allows(n)]
    if outside:
        raise TemplateRequestError(f"{', '.join(outside)} outside the allowed domains "
                                   f"({policy.describe()})", DNS_FIELD)
    return wanted


def _subject(template: CsrTemplate, policy: DomainPolicy, given: dict[str, str],
             dns_names: list[str]) -> x509.Name:
    """Literal attributes as written, placeholders from ``given``; anything else is refused."""
    for attr in given:
        if attr not in template.subject:
            known = "not in the template" if attr in SUBJECT_ATTRIBUTES else "unknown attribute"
            raise TemplateRequestError(f"{known}; the CSR may not carry it", f"subject.{attr}")
    attributes: list[x509.NameAttribute[str]] = []
    for attr, oid in SUBJECT_ATTRIBUTES.items():
        spec = template.subject.get(attr)
        value = given.get(attr)
        if spec is None:
            continue
        field = f"subject.{attr}"
        if spec not in (MANDATORY, OPTIONAL):
            if value is not None and value != spec:
                raise TemplateRequestError(f"fixed to {spec!r} by the template, {value!r} "
                                           "requested", field)
            value = spec
        elif value is None and attr == "commonName" and spec == MANDATORY and dns_names:
            value = dns_names[0]
        if value is None:
            if spec == MANDATORY:
                raise TemplateRequestError("mandatory ('**'): a value must be given", field)
            continue
        if attr == "commonName" and spec in (MANDATORY, OPTIONAL) \
                and not placeholder_name_allowed(value, template, policy):
            raise TemplateRequestError(f"{value!r} is outside the allowed domains "
                                       f"({policy.describe()})", field)
        try:
            attributes.append(x509.NameAttribute(oid, value))
        except (TypeError, ValueError) as exc:
            raise TemplateRequestError(str(exc), field) from None
    return x509.Name(attributes)


def _key_usage(names: Sequence[str]) -> x509.KeyUsage:
    flags = {attr: name in names for name, attr in KEY_USAGES.items()}
    return x509.KeyUsage(**flags)

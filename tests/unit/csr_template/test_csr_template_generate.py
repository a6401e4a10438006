"""generate_key_and_csr: generated CSRs pass check_csr for several templates and every key type
(the central property), and each request the template cannot satisfy is refused with a reason."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtensionOID, NameOID
from csr_template_helpers import RFC_EXAMPLE_JSON

from star_operator.csr_template import (
    KEY_TYPE_NAMES,
    DomainPolicy,
    GeneratedRequest,
    TemplateRequestError,
    check_csr,
    generate_key_and_csr,
    load_template,
)

POLICY = DomainPolicy(["cdn.star.test"])
ALL_KEY_TYPES = [
    {"PublicKeyType": "rsaEncryption", "PublicKeyLength": bits, "SignatureType": sig}
    for bits, sig in ((2048, "sha256WithRSAEncryption"), (3072, "sha384WithRSAandMGF1"),
                      (4096, "sha512WithRSAEncryption"))
] + [
    {"PublicKeyType": "id-ecPublicKey", "namedCurve": curve, "SignatureType": sig}
    for curve, sig in (("secp256r1", "ecdsa-with-SHA256"), ("secp384r1", "ecdsa-with-SHA384"),
                       ("secp521r1", "ecdsa-with-SHA512"))
]


def template(dns: list[str], subject: dict[str, str] | None = None,
             **extensions: Any) -> Any:
    doc: dict[str, Any] = {"keyTypes": ALL_KEY_TYPES,
                           "extensions": {"subjectAltName": {"DNS": dns}, **extensions}}
    if subject:
        doc["subject"] = subject
    return load_template(doc)


RFC = load_template(RFC_EXAMPLE_JSON)
RFC_SUBJECT = {"stateOrProvince": "Ontario", "locality": "Ottawa"}
FULL = load_template({
    "keyTypes": ALL_KEY_TYPES,
    "subject": {"country": "CA", "stateOrProvince": "**", "locality": "*", "organization": "*",
                "organizationalUnit": "CDN", "emailAddress": "pki@ido.example",
                "commonName": "**"},
    "extensions": {
        "subjectAltName": {"DNS": ["abc.ido.example", "**", "*"],
                           "Email": ["admin@ido.example"], "URI": ["https://ido.example/cdn"]},
        "keyUsage": ["digitalSignature", "keyAgreement", "decipherOnly"],
        "extendedKeyUsage": ["serverAuth", "clientAuth", "1.3.6.1.4.1.99999.1"],
    },
})

# (template, policy, names, subject)
SCENARIOS: dict[str, tuple[Any, DomainPolicy, list[str], dict[str, str] | None]] = {
    "rfc example": (RFC, DomainPolicy([]), ["abc.ido.example"], RFC_SUBJECT),
    "all features": (FULL, POLICY, ["abc.ido.example", "x.cdn.star.test", "*.cdn.star.test"],
                     {"stateOrProvince": "Ontario", "locality": "Ottawa"}),
    "all features, optional left out": (FULL, POLICY, ["x.cdn.star.test", "abc.ido.example"],
                                        {"stateOrProvince": "Ontario"}),
    "only client names, no subject": (template(["**", "*", "*"]), POLICY,
                                      ["a.cdn.star.test", "b.cdn.star.test"], None),
    "wildcard literal": (template(["*.abc.ido.example"], keyUsage=["digitalSignature"]),
                         DomainPolicy([]), ["*.abc.ido.example"], None),
}


def generation_cases() -> list[tuple[str, str]]:
    """Every scenario with every key type it allows; RSA 4096 (slow) in one scenario only."""
    cases = []
    for scenario, (tmpl, _, _, _) in SCENARIOS.items():
        for key_type in KEY_TYPE_NAMES:
            if key_type == "rsa-4096" and scenario != "all features":
                continue
            if tmpl is RFC and key_type not in ("ecdsa-p256", "rsa-2048"):
                continue  # the RFC example lists only these two; refusal is tested below
            cases.append((scenario, key_type))
    return cases


@pytest.mark.parametrize(("scenario", "key_type"), generation_cases())
def test_generated_csr_passes_check(scenario: str, key_type: str) -> None:
    tmpl, policy, names, subject = SCENARIOS[scenario]
    req = generate_key_and_csr(tmpl, policy, names, key_type, subject)
    assert isinstance(req, GeneratedRequest)
    assert check_csr(req.csr, tmpl, policy) == []
    # The PEMs are what the caller stores: PKCS#8 key matching the CSR, and the same CSR.
    assert req.key_pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    key = serialization.load_pem_private_key(req.key_pem, password=None)
    assert key.public_key() == req.csr.public_key()
    assert x509.load_pem_x509_csr(req.csr_pem) == req.csr
    sans = req.csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == [n.lower() for n in names]


def test_key_type_and_signature_come_from_the_template() -> None:
    req = generate_key_and_csr(FULL, POLICY, ["abc.ido.example", "a.cdn.star.test"], "rsa-3072",
                               {"stateOrProvince": "Ontario"})
    key = req.csr.public_key()
    assert isinstance(key, rsa.RSAPublicKey) and key.key_size == 3072
    assert req.csr.signature_algorithm_oid == x509.oid.SignatureAlgorithmOID.RSASSA_PSS
    req = generate_key_and_csr(RFC, DomainPolicy([]), ["abc.ido.example"], "ecdsa-p256",
                               RFC_SUBJECT)
    assert isinstance(req.csr.public_key(), ec.EllipticCurvePublicKey)
    assert req.csr.signature_algorithm_oid == x509.oid.SignatureAlgorithmOID.ECDSA_WITH_SHA256


def test_subject_literals_placeholders_and_common_name_default() -> None:
    req = generate_key_and_csr(FULL, POLICY, ["a.cdn.star.test", "abc.ido.example"], "ecdsa-p256",
                               {"stateOrProvince": "Ontario", "organization": "CDN Inc"})
    attrs = {a.oid: a.value for a in req.csr.subject}
    assert attrs == {NameOID.COUNTRY_NAME: "CA", NameOID.STATE_OR_PROVINCE_NAME: "Ontario",
                     NameOID.ORGANIZATION_NAME: "CDN Inc",
                     NameOID.ORGANIZATIONAL_UNIT_NAME: "CDN",
                     NameOID.EMAIL_ADDRESS: "pki@ido.example",
                     NameOID.COMMON_NAME: "a.cdn.star.test"}  # '**' CN = first name
    sans = req.csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.RFC822Name) == ["admin@ido.example"]
    assert sans.get_values_for_type(x509.UniformResourceIdentifier) == ["https://ido.example/cdn"]


def test_san_is_critical_only_with_an_empty_subject() -> None:
    bare = generate_key_and_csr(template(["**"]), POLICY, ["a.cdn.star.test"], "ecdsa-p256")
    assert bare.csr.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).critical
    rfc = generate_key_and_csr(RFC, DomainPolicy([]), ["abc.ido.example"], "ecdsa-p256",
                               RFC_SUBJECT)
    assert not rfc.csr.extensions.get_extension_for_oid(
        ExtensionOID.SUBJECT_ALTERNATIVE_NAME).critical


def test_names_are_normalised_and_deduplicated() -> None:
    req = generate_key_and_csr(template(["**", "*"]), POLICY,
                               ["A.cdn.star.test.", "a.cdn.star.test"], "ecdsa-p256")
    sans = req.csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["a.cdn.star.test"]


REFUSALS: list[tuple[str, tuple[Any, ...], str, str]] = [
    # (case, (template, policy, names, key_type, subject), field, reason fragment)
    ("unknown key type", (RFC, DomainPolicy([]), ["abc.ido.example"], "dsa-1024", RFC_SUBJECT),
     "keyTypes", "unknown key type"),
    ("key type not in template",
     (RFC, DomainPolicy([]), ["abc.ido.example"], "ecdsa-p384", RFC_SUBJECT),
     "keyTypes", "allowed: ecdsa-p256, rsa-2048"),
    ("literal name not requested", (RFC, DomainPolicy([]), [], "ecdsa-p256", RFC_SUBJECT),
     "extensions.subjectAltName.DNS", "requires abc.ido.example"),
    ("name the template does not list",
     (RFC, DomainPolicy(["ido.example"]), ["abc.ido.example", "www.ido.example"], "ecdsa-p256",
      RFC_SUBJECT), "extensions.subjectAltName.DNS", "www.ido.example not allowed"),
    ("too many client names",
     (template(["**"]), POLICY, ["a.cdn.star.test", "b.cdn.star.test"], "ecdsa-p256", None),
     "extensions.subjectAltName.DNS", "b.cdn.star.test not allowed"),
    ("mandatory client name missing",
     (template(["abc.ido.example", "**"]), POLICY, ["abc.ido.example"], "ecdsa-p256", None),
     "extensions.subjectAltName.DNS", "requires 1 name(s) chosen by the client"),
    ("client name outside policy",
     (template(["**"]), POLICY, ["www.other.example"], "ecdsa-p256", None),
     "extensions.subjectAltName.DNS", "outside the allowed domains (cdn.star.test)"),
    ("invalid DNS name", (template(["**"]), POLICY, ["a b.cdn.star.test"], "ecdsa-p256", None),
     "extensions.subjectAltName.DNS", "not a valid DNS name"),
    ("names given as one string",
     (template(["**"]), POLICY, "a.cdn.star.test", "ecdsa-p256", None),
     "extensions.subjectAltName.DNS", "not one string"),
    ("literal subject value overridden",
     (RFC, DomainPolicy([]), ["abc.ido.example"], "ecdsa-p256", {**RFC_SUBJECT, "country": "US"}),
     "subject.country", "fixed to 'CA'"),
    ("mandatory subject value missing",
     (RFC, DomainPolicy([]), ["abc.ido.example"], "ecdsa-p256", {"locality": "Ottawa"}),
     "subject.stateOrProvince", "mandatory"),
    ("subject attribute not in template",
     (RFC, DomainPolicy([]), ["abc.ido.example"], "ecdsa-p256",
      {**RFC_SUBJECT, "organization": "CDN"}), "subject.organization", "not in the template"),
    ("unknown subject attribute",
     (RFC, DomainPolicy([]), ["abc.ido.example"], "ecdsa-p256", {**RFC_SUBJECT, "title": "x"}),
     "subject.title", "unknown attribute"),
    ("client commonName outside policy",
     (template(["**"], subject={"commonName": "*"}), POLICY, ["a.cdn.star.test"], "ecdsa-p256",
      {"commonName": "www.other.example"}), "subject.commonName", "outside the allowed domains"),
    ("client country not encodable",
     (template(["**"], subject={"country": "**"}), POLICY, ["a.cdn.star.test"], "ecdsa-p256",
      {"country": "Canada"}), "subject.country", "2"),
]


@pytest.mark.parametrize(("case", "args", "field", "fragment"), REFUSALS,
                         ids=[r[0] for r in REFUSALS])
def test_refusal(case: str, args: tuple[Any, ...], field: str, fragment: str) -> None:
    with pytest.raises(TemplateRequestError) as err:
        generate_key_and_csr(*args)
    assert err.value.field == field, str(err.value)
    assert fragment in err.value.reason

"""check_csr: one passing and one failing case per rule, expressed as changes to a CSR that
conforms to a template using every feature; the exact set of violated fields is asserted, so a
case also proves nothing else is reported."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from csr_template_helpers import C, CN, L, O, RFC_EXAMPLE_JSON, ST, build_csr

from star_operator.csr_template import DomainPolicy, Violation, check_csr, load_template

CUSTOM_EKU = "1.3.6.1.4.1.99999.1"
FULL = load_template({
    "keyTypes": [
        {"PublicKeyType": "rsaEncryption", "PublicKeyLength": 2048,
         "SignatureType": "sha256WithRSAEncryption"},
        {"PublicKeyType": "id-ecPublicKey", "namedCurve": "secp256r1",
         "SignatureType": "ecdsa-with-SHA256"},
    ],
    "subject": {"country": "CA", "stateOrProvince": "**", "locality": "*"},
    "extensions": {
        "subjectAltName": {"DNS": ["abc.ido.example", "**", "*"],
                           "Email": ["admin@ido.example"], "URI": ["https://ido.example/cdn"]},
        "keyUsage": ["digitalSignature"],
        "extendedKeyUsage": ["serverAuth", CUSTOM_EKU],
    },
})
POLICY = DomainPolicy(["cdn.star.test"])
DNS = "extensions.subjectAltName.DNS"

EMAIL = x509.RFC822Name("admin@ido.example")
URI = x509.UniformResourceIdentifier("https://ido.example/cdn")


def dns(*names: str) -> list[x509.GeneralName]:
    return [x509.DNSName(n) for n in names]


BASE: dict[str, Any] = {
    "key_name": "ecdsa-p256",
    "subject": [(C, "CA"), (ST, "Ontario")],
    "sans": [*dns("abc.ido.example", "a.cdn.star.test"), EMAIL, URI],
    "key_usage": ["digital_signature"],
    "eku": [ExtendedKeyUsageOID.SERVER_AUTH, x509.ObjectIdentifier(CUSTOM_EKU)],
}

PSS256 = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)

CASES: list[tuple[str, dict[str, Any], set[str]]] = [
    # (case, changes to BASE, violated fields)
    ("conforming EC P-256", {}, set()),
    # keyTypes: type, size / curve and signature must all fit one entry
    ("RSA 2048 sha256 fits the other entry", {"key_name": "rsa-2048"}, set()),
    ("EC curve not allowed", {"key_name": "ecdsa-p384"}, {"keyTypes"}),
    ("RSA size not allowed", {"key_name": "rsa-3072"}, {"keyTypes"}),
    ("signature hash not allowed", {"digest": hashes.SHA384()}, {"keyTypes"}),
    ("RSA-PSS where PKCS#1 v1.5 is listed", {"key_name": "rsa-2048", "rsa_padding": PSS256},
     {"keyTypes"}),
    ("Ed25519 key", {"key_name": "ed25519"}, {"keyTypes"}),
    # signature validity
    ("tampered signature", {"tamper": True}, {"signature"}),
    # subject: literal
    ("literal country missing", {"subject": [(ST, "Ontario")]}, {"subject.country"}),
    ("literal country different", {"subject": [(C, "US"), (ST, "Ontario")]},
     {"subject.country"}),
    # subject: ** mandatory, client's value
    ("mandatory stateOrProvince missing", {"subject": [(C, "CA")]}, {"subject.stateOrProvince"}),
    # subject: * optional
    ("optional locality present", {"subject": [(C, "CA"), (ST, "Ontario"), (L, "Ottawa")]},
     set()),
    ("attribute not in template", {"subject": [(C, "CA"), (ST, "Ontario"), (O, "CDN Inc")]},
     {"subject.organization"}),
    ("attribute with an unknown OID",
     {"subject": [(C, "CA"), (ST, "Ontario"), (NameOID.SERIAL_NUMBER, "42")]}, {"subject"}),
    ("attribute repeated", {"subject": [(C, "CA"), (C, "CA"), (ST, "Ontario")]},
     {"subject.country"}),
    # SAN DNS: literals, ** and * entries, policy
    ("both placeholders used",
     {"sans": [*dns("abc.ido.example", "a.cdn.star.test", "b.cdn.star.test"), EMAIL, URI]},
     set()),
    ("literal name matched case-insensitively",
     {"sans": [*dns("ABC.ido.example", "a.cdn.star.test"), EMAIL, URI]}, set()),
    ("wildcard client name within policy",
     {"sans": [*dns("abc.ido.example", "*.cdn.star.test"), EMAIL, URI]}, set()),
    ("literal name missing", {"sans": [*dns("a.cdn.star.test"), EMAIL, URI]}, {DNS}),
    ("mandatory client name missing", {"sans": [*dns("abc.ido.example"), EMAIL, URI]}, {DNS}),
    ("one name too many",
     {"sans": [*dns("abc.ido.example", "a.cdn.star.test", "b.cdn.star.test", "c.cdn.star.test"),
               EMAIL, URI]}, {DNS}),
    ("client name outside policy",
     {"sans": [*dns("abc.ido.example", "www.other.example"), EMAIL, URI]}, {DNS}),
    ("wildcard client name above policy",
     {"sans": [*dns("abc.ido.example", "*.star.test"), EMAIL, URI]}, {DNS}),
    ("name repeated",
     {"sans": [*dns("abc.ido.example", "a.cdn.star.test", "a.cdn.star.test"), EMAIL, URI]},
     {DNS}),
    ("invalid client name",
     {"sans": [*dns("abc.ido.example", "bad_name.cdn.star.test"), EMAIL, URI]}, {DNS}),
    ("literal name with a trailing dot",
     {"sans": [*dns("abc.ido.example.", "a.cdn.star.test"), EMAIL, URI]}, {DNS}),
    # SAN Email / URI: literals only
    ("email missing", {"sans": [*dns("abc.ido.example", "a.cdn.star.test"), URI]},
     {"extensions.subjectAltName.Email"}),
    ("email not in template",
     {"sans": [*dns("abc.ido.example", "a.cdn.star.test"), EMAIL, URI,
               x509.RFC822Name("x@cdn.star.test")]}, {"extensions.subjectAltName.Email"}),
    ("URI missing", {"sans": [*dns("abc.ido.example", "a.cdn.star.test"), EMAIL]},
     {"extensions.subjectAltName.URI"}),
    ("URI not in template",
     {"sans": [*dns("abc.ido.example", "a.cdn.star.test"), EMAIL,
               x509.UniformResourceIdentifier("https://evil.example/")]},
     {"extensions.subjectAltName.URI"}),
    ("IP address SAN",
     {"sans": [*dns("abc.ido.example", "a.cdn.star.test"), EMAIL, URI,
               x509.IPAddress(ipaddress.ip_address("192.0.2.1"))]},
     {"extensions.subjectAltName"}),
    ("no SAN extension at all", {"sans": None},
     {DNS, "extensions.subjectAltName.Email", "extensions.subjectAltName.URI"}),
    # keyUsage exactly
    ("keyUsage missing", {"key_usage": None}, {"extensions.keyUsage"}),
    ("keyUsage with an extra bit", {"key_usage": ["digital_signature", "key_encipherment"]},
     {"extensions.keyUsage"}),
    ("keyUsage without the listed bit", {"key_usage": ["key_agreement", "encipher_only"]},
     {"extensions.keyUsage"}),
    # extendedKeyUsage exactly (names and OIDs)
    ("EKU missing", {"eku": None}, {"extensions.extendedKeyUsage"}),
    ("EKU lacks the custom OID", {"eku": [ExtendedKeyUsageOID.SERVER_AUTH]},
     {"extensions.extendedKeyUsage"}),
    ("EKU with an extra usage",
     {"eku": [ExtendedKeyUsageOID.SERVER_AUTH, x509.ObjectIdentifier(CUSTOM_EKU),
              ExtendedKeyUsageOID.CLIENT_AUTH]}, {"extensions.extendedKeyUsage"}),
    # nothing outside the template
    ("basicConstraints extension", {"extra": [x509.BasicConstraints(ca=False, path_length=None)]},
     {"extensions"}),
    ("unrecognised extension",
     {"extra": [x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.9"),
                                           b"\x05\x00")]}, {"extensions"}),
    ("challengePassword attribute",
     {"attributes": [(x509.oid.AttributeOID.CHALLENGE_PASSWORD, b"secret")]}, {"attributes"}),
]


@pytest.mark.parametrize(("case", "changes", "fields"), CASES, ids=[c[0] for c in CASES])
def test_rule(case: str, changes: dict[str, Any], fields: set[str]) -> None:
    violations = check_csr(build_csr(**{**BASE, **changes}), FULL, POLICY)
    assert {v.field for v in violations} == fields, violations
    assert all(isinstance(v, Violation) and v.message for v in violations)


def test_every_violation_is_reported() -> None:
    """Wrong curve, wrong country, a name outside policy, missing EKU and an extra extension:
    all of them, each under its own field, not just the first."""
    csr = build_csr(**{**BASE, "key_name": "ecdsa-p384",
                       "subject": [(C, "US"), (ST, "Ontario")],
                       "sans": [*dns("abc.ido.example", "www.other.example"), EMAIL, URI],
                       "eku": None,
                       "extra": [x509.BasicConstraints(ca=False, path_length=None)]})
    fields = [v.field for v in check_csr(csr, FULL, POLICY)]
    assert sorted(fields) == sorted(["keyTypes", "subject.country", DNS,
                                     "extensions.extendedKeyUsage", "extensions"])


def test_messages_name_values() -> None:
    csr = build_csr(**{**BASE, "sans": [*dns("www.other.example"), EMAIL, URI],
                       "subject": [(C, "US"), (ST, "Ontario")]})
    text = "\n".join(map(str, check_csr(csr, FULL, POLICY)))
    assert "'abc.ido.example' is missing" in text
    assert "'www.other.example' is outside the allowed domains (cdn.star.test)" in text
    assert "subject.country: must be 'CA', CSR has 'US'" in text


# --- templates other than FULL ------------------------------------------------------------

RFC = load_template(RFC_EXAMPLE_JSON)
RFC_OK: dict[str, Any] = {
    "subject": [(C, "CA"), (ST, "Quebec"), (L, "Montreal")],
    "sans": dns("abc.ido.example"),
    "key_usage": ["digital_signature"],
    "eku": [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
}


@pytest.mark.parametrize(("changes", "fields"), [
    ({}, set()),
    ({"key_name": "rsa-2048"}, set()),
    ({"subject": [(C, "CA"), (ST, "Quebec")]}, {"subject.locality"}),
    ({"sans": dns("abc.ido.example", "cdn.ido.example")}, {DNS}),
])
def test_rfc_example_template(changes: dict[str, Any], fields: set[str]) -> None:
    """Only literal DNS names: the policy is not needed, and an extra name always fails."""
    csr = build_csr(**{**RFC_OK, **changes})
    assert {v.field for v in check_csr(csr, RFC, DomainPolicy([]))} == fields


def _template(**changes: Any) -> Any:
    doc: dict[str, Any] = {
        "keyTypes": [{"PublicKeyType": "id-ecPublicKey", "namedCurve": "secp256r1",
                      "SignatureType": "ecdsa-with-SHA256"}],
        "extensions": {"subjectAltName": {"DNS": ["**"]}},
    }
    doc.update(changes)
    return load_template(doc)


def test_template_without_subject_or_usages() -> None:
    t = _template()
    assert check_csr(build_csr(sans=dns("a.cdn.star.test")), t, POLICY) == []
    bad = build_csr(subject=[(CN, "a.cdn.star.test")], sans=dns("a.cdn.star.test"),
                    key_usage=["digital_signature"], eku=[ExtendedKeyUsageOID.SERVER_AUTH])
    assert {v.field for v in check_csr(bad, t, POLICY)} == {
        "subject.commonName", "extensions.keyUsage", "extensions.extendedKeyUsage"}


@pytest.mark.parametrize(("cn", "ok"), [
    ("a.cdn.star.test", True),  # within policy
    ("abc.ido.example", True),  # a literal name the DNO listed
    ("www.other.example", False),
])
def test_placeholder_common_name_within_policy(cn: str, ok: bool) -> None:
    t = _template(subject={"commonName": "**"}, extensions={
        "subjectAltName": {"DNS": ["abc.ido.example", "*"]}})
    csr = build_csr(subject=[(CN, cn)], sans=dns("abc.ido.example"))
    fields = {v.field for v in check_csr(csr, t, POLICY)}
    assert fields == (set() if ok else {"subject.commonName"})


def test_eku_oid_in_template_equals_name_in_csr() -> None:
    t = _template(extensions={"subjectAltName": {"DNS": ["**"]},
                              "extendedKeyUsage": ["1.3.6.1.5.5.7.3.1"]})
    csr = build_csr(sans=dns("a.cdn.star.test"), eku=[ExtendedKeyUsageOID.SERVER_AUTH])
    assert check_csr(csr, t, POLICY) == []


@pytest.mark.parametrize(("salt", "ok"), [(32, True), (20, False)])
def test_rsa_pss_parameters(salt: int, ok: bool) -> None:
    """sha256WithRSAandMGF1 means MGF1-SHA256 and a 32-byte salt; other salts do not fit."""
    t = _template(keyTypes=[{"PublicKeyType": "rsaEncryption", "PublicKeyLength": 2048,
                             "SignatureType": "sha256WithRSAandMGF1"}])
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=salt)
    csr = build_csr(key_name="rsa-2048", rsa_padding=pss, sans=dns("a.cdn.star.test"))
    assert {v.field for v in check_csr(csr, t, POLICY)} == (set() if ok else {"keyTypes"})


def test_key_type_must_match_one_entry_fully() -> None:
    """RSA 2048 is listed with SHA-256 and RSA 3072 with SHA-384: 2048 + SHA-384 mixes them."""
    t = _template(keyTypes=[
        {"PublicKeyType": "rsaEncryption", "PublicKeyLength": 2048,
         "SignatureType": "sha256WithRSAEncryption"},
        {"PublicKeyType": "rsaEncryption", "PublicKeyLength": 3072,
         "SignatureType": "sha384WithRSAEncryption"}])
    mixed = build_csr(key_name="rsa-2048", digest=hashes.SHA384(), sans=dns("a.cdn.star.test"))
    (violation,) = check_csr(mixed, t, POLICY)
    assert violation.field == "keyTypes"
    assert "rsaEncryption 2048 with sha384WithRSAEncryption is not allowed" in violation.message
    good = build_csr(key_name="rsa-3072", digest=hashes.SHA384(), sans=dns("a.cdn.star.test"))
    assert check_csr(good, t, POLICY) == []


def test_duplicate_extension_is_reported_not_raised() -> None:
    """cryptography refuses to parse a CSR with a repeated extension; that is a violation."""
    from cryptography.hazmat.primitives.serialization import Encoding

    csr = build_csr(sans=dns("a.cdn.star.test"), eku=[ExtendedKeyUsageOID.SERVER_AUTH],
                    key_usage=["digital_signature"])
    der = csr.public_bytes(Encoding.DER)
    # Rename the extendedKeyUsage OID (2.5.29.37) to keyUsage (2.5.29.15): same length, now
    # two keyUsage extensions. The signature breaks too, which is reported separately.
    der = der.replace(bytes.fromhex("0603551d25"), bytes.fromhex("0603551d0f"))
    fields = {v.field for v in check_csr(x509.load_der_x509_csr(der), _template(), POLICY)}
    assert {"extensions", "signature"} <= fields

"""A StarOrder with an outside CSR (spec.csr): which CSRs may be ordered, and why not."""
from __future__ import annotations

from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from star_operator.ordering import delegated, request
from star_operator.ordering.templates import parse_template

TEMPLATE = {"metadata": {"name": "dno"}, "spec": {
    "template": {"keyTypes": [{"PublicKeyType": "id-ecPublicKey", "namedCurve": "secp256r1",
                               "SignatureType": "ecdsa-with-SHA256"}],
                 "subject": {"commonName": "**"},
                 "extensions": {"subjectAltName": {"DNS": ["**", "*"]}}},
    "domains": ["star.test"], "allowedNamespaces": ["*"],
    "acme": {"directoryURL": "https://ca.test/dir", "accountKeySecretRef": {"name": "a"}},
    "dns01": {"rfc2136": {"nameserver": "127.0.0.1:53", "tsigKeyName": "k",
                          "tsigSecretSecretRef": {"name": "t"}}}}}
POLICY = parse_template(TEMPLATE, "star-operator")
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def make_csr(names: list[str], key: Any = EC_KEY, cn: str | None = None) -> str:
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, cn or names[0])]))
    builder = builder.add_extension(x509.SubjectAlternativeName(
        [x509.DNSName(n) for n in names]), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


def spec(csr: str | None, names: list[str]) -> dict[str, Any]:
    return {"csrTemplateName": "dno", "dnsNames": names, "lifetime": "1h", "duration": "1d",
            "secretName": "s", **({"csr": csr} if csr is not None else {})}


def test_a_conforming_csr_is_accepted_as_given() -> None:
    text = make_csr(["www.star.test", "cdn.star.test"])
    csr, violations = delegated.check(spec(text, ["cdn.star.test", "WWW.star.test."]), POLICY)
    assert violations == []
    assert delegated.pem_of(csr) == text  # exactly the CSR given, no other
    assert delegated.public_key(text).public_numbers() == EC_KEY.public_key().public_numbers()


def test_no_csr_means_the_operators_own_key() -> None:
    assert delegated.csr_text(spec(None, ["a.star.test"])) is None
    assert delegated.csr_text(spec("  \n", ["a.star.test"])) is None


def test_garbage_is_refused_naming_spec_csr() -> None:
    _, violations = delegated.check(spec("-----BEGIN CERTIFICATE REQUEST-----\nnope\n",
                                         ["a.star.test"]), POLICY)
    assert [v.field for v in violations] == ["spec.csr"]
    assert "not a PEM certificate signing request" in violations[0].message


def test_names_other_than_dns_names_are_refused() -> None:
    text = make_csr(["www.star.test", "evil.star.test"])
    _, violations = delegated.check(spec(text, ["www.star.test"]), POLICY)
    assert [v.field for v in violations] == ["spec.csr"]
    assert "evil.star.test" in violations[0].message and "spec.dnsNames" in violations[0].message


def test_a_csr_outside_the_template_names_the_template_field() -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    text = make_csr(["www.other.test"], key=rsa_key)
    _, violations = delegated.check(spec(text, ["www.other.test"]), POLICY)
    fields = {v.field for v in violations}
    assert "keyTypes" in fields  # RSA where the template allows P-256 only
    assert any(f.startswith("subject") or "subjectAltName" in f for f in fields)  # other.test


@pytest.mark.parametrize("ordered, expected", [
    (None, "SPEC"),                   # not ordered yet: the spec decides
    ({"csr": "ORDERED"}, "ORDERED"),  # ordered with a CSR: that one, whatever the spec says now
    ({"lifetime": "1h"}, None),       # ordered with the operator's key: stays so
])
def test_the_ordered_csr_wins_over_a_later_edit(ordered: Any, expected: str | None) -> None:
    assert delegated.ordered_csr({"csr": "SPEC"}, ordered) == expected


def test_csr_and_star_are_immutable_and_an_old_record_is_not_a_change() -> None:
    placed = spec("CSR-A", ["a.star.test"])
    ordered = request.ordered_fields(placed)
    assert ordered["csr"] == "CSR-A"
    assert request.changed_immutable({**placed, "csr": "CSR-B"}, ordered) == ["spec.csr"]
    assert request.changed_immutable({k: v for k, v in placed.items() if k != "csr"},
                                     ordered) == ["spec.csr"]
    # star: true is the default the API server fills in; a record from before the field
    # existed has no star and must not read as changed
    assert request.changed_immutable({**placed, "star": True}, ordered) == []
    assert request.changed_immutable({**placed, "star": False}, ordered) == ["spec.star"]

"""Property-based fuzzing of the operator's CSR-template loader and checker: any template JSON
is loaded or refused with TemplateError (which names the field path), and any CSR, including
mutated DER that cryptography parses lazily, checked against a valid template gives a list of
violations, never an exception."""
from __future__ import annotations

from typing import Any

import pytest
from cryptography import x509
from fuzz_strategies import (BAD_UTF8_COMMON_NAME, BIT_STRING_COMMON_NAME, FUZZ, csr_der,
                             dns_names, json_values)
from hypothesis import event, example, given
from hypothesis import strategies as st

from star_operator.csr_template import (CsrTemplate, DomainPolicy, TemplateError, Violation,
                                        check_csr, load_template)

pytestmark = pytest.mark.timeout(60)  # a hang fails fast, not at the suite's 300 s

VALID: dict[str, Any] = {
    "keyTypes": [{"PublicKeyType": "id-ecPublicKey", "namedCurve": "secp256r1",
                  "SignatureType": "ecdsa-with-SHA256"},
                 {"PublicKeyType": "rsaEncryption", "PublicKeyLength": 2048,
                  "SignatureType": "sha256WithRSAEncryption"}],
    "subject": {"commonName": "**", "organization": "*"},
    "extensions": {"subjectAltName": {"DNS": ["**", "fixed.star.test"]},
                   "keyUsage": ["digitalSignature"]}}
TEMPLATE = load_template(VALID)
POLICY = DomainPolicy(["star.test"])

key_type = st.fixed_dictionaries({}, optional={
    "PublicKeyType": st.sampled_from(["rsaEncryption", "id-ecPublicKey"]) | json_values,
    "PublicKeyLength": st.integers(-1, 9000) | json_values,
    "namedCurve": st.sampled_from(["secp256r1", "secp384r1"]) | json_values,
    "SignatureType": st.sampled_from(["ecdsa-with-SHA256", "sha256WithRSAEncryption"])
    | json_values})
subject = st.dictionaries(st.sampled_from(["commonName", "country", "organization",
                                           "bogus"]) | st.text(max_size=6),
                          st.sampled_from(["*", "**", "CA"]) | json_values, max_size=4)
san = st.fixed_dictionaries({}, optional={
    k: st.lists(st.sampled_from(["*", "**", "a.star.test", "x@y.example", "https://u.example"])
                | dns_names | json_values, max_size=3) | json_values
    for k in ("DNS", "Email", "URI", "IP")})
extensions = st.fixed_dictionaries({}, optional={
    "subjectAltName": san | json_values,
    "keyUsage": st.lists(st.sampled_from(["digitalSignature", "keyCertSign"]) | json_values,
                         max_size=3) | json_values,
    "extendedKeyUsage": st.lists(st.sampled_from(["serverAuth", "1.2.3", "1.x"]) | json_values,
                                 max_size=3) | json_values})
templates = st.fixed_dictionaries({}, optional={
    "keyTypes": st.lists(key_type | json_values, max_size=3) | json_values,
    "subject": subject | json_values, "extensions": extensions | json_values,
    "extra": json_values})


@st.composite
def one_part_damaged(draw: st.DrawFn, doc: Any = VALID) -> Any:
    """VALID with one member, at any depth, replaced by junk or removed: templates that
    pass most checks and fail (or not) at one place."""
    if not isinstance(doc, (dict, list)) or not doc or draw(st.integers(0, 3)) == 0:
        return draw(json_values)
    keys = list(doc) if isinstance(doc, dict) else list(range(len(doc)))
    key = draw(st.sampled_from(keys))
    copy: Any = dict(doc) if isinstance(doc, dict) else list(doc)
    if draw(st.integers(0, 5)) == 0:
        del copy[key]
    else:
        copy[key] = draw(one_part_damaged(doc[key]))
    return copy


@FUZZ
@given(one_part_damaged() | templates | json_values | st.text(max_size=80) | st.binary(max_size=80))
def test_template_loads_or_names_the_defect(data: Any) -> None:
    try:
        template = load_template(data)
    except TemplateError as err:
        assert isinstance(err.path, str) and str(err)
        event("refused")
        return
    event("loaded")
    assert isinstance(template, CsrTemplate)


@FUZZ
@example(BAD_UTF8_COMMON_NAME)
@example(BIT_STRING_COMMON_NAME)
@given(csr_der(names=dns_names | st.sampled_from(["fixed.star.test", "a.star.test"])))
def test_any_csr_gives_violations_not_exceptions(der: bytes) -> None:
    try:
        csr = x509.load_der_x509_csr(der)
    except ValueError:
        event("DER not parseable")
        return  # the operator gets CSRs only from its own generator or as parsed objects
    violations = check_csr(csr, TEMPLATE, POLICY)
    assert all(isinstance(v, Violation) for v in violations)
    event("conforms" if not violations else "violations")

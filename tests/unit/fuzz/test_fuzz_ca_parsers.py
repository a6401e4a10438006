"""Property-based fuzzing of star-ca's request parsers, called directly: whatever the bytes,
the JSON shape or the CSR, the answer is a value or the parser's own error (AcmeError, which
becomes a 4xx problem document, or CsrError, which becomes badCSR), never another exception."""
from __future__ import annotations

import json
from typing import Any

import josepy as jose
import pytest
from fuzz_strategies import (BAD_UTF8_COMMON_NAME, BIT_STRING_COMMON_NAME, FUZZ, b64url_junk,
                             csr_der, json_values)
from hypothesis import event, example, given
from hypothesis import strategies as st

from star_ca.ca.csr import CsrError, check_csr
from star_ca.problems import AcmeError
from star_ca.star.autorenewal import AutoRenewalError, Limits, parse_auto_renewal
from star_ca.wfe.identifiers import parse_identifiers
from star_ca.wfe.jws import Verified, key_from_jwk, parse_flattened

pytestmark = pytest.mark.timeout(60)  # a hang fails fast, not at the suite's 300 s

LIMITS = Limits(3600, 31536000, 0, True)


def b64json(value: Any) -> str:
    return jose.encode_b64jose(json.dumps(value).encode())


headers = st.fixed_dictionaries(
    {}, optional={"alg": st.sampled_from(["ES256", "RS256", "none", "HS256"]) | json_values,
                  "jwk": json_values, "kid": json_values, "nonce": json_values,
                  "url": json_values})
flattened = st.fixed_dictionaries({
    "protected": b64url_junk | headers.map(b64json) | json_values.map(b64json),
    "payload": b64url_junk | json_values.map(b64json),
    "signature": b64url_junk})
bodies = (st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode())
          | flattened.map(lambda v: json.dumps(v).encode()))


@FUZZ
@given(bodies)
def test_parse_flattened_answers_or_refuses(body: bytes) -> None:
    try:
        flat = parse_flattened(body)
    except AcmeError as err:
        assert 400 <= err.status < 500
        event(err.type)
        return
    event("parsed")
    assert isinstance(flat.header, dict)


ec_members = st.fixed_dictionaries({"kty": st.sampled_from(["EC", "RSA"])}, optional={
    "crv": st.sampled_from(["P-256", "P-384", "P-521", "X25519"]) | json_values,
    "x": b64url_junk | json_values, "y": b64url_junk | json_values,
    "n": b64url_junk | json_values, "e": st.sampled_from(["AQAB"]) | b64url_junk})


@FUZZ
@given(ec_members | json_values)
def test_key_from_jwk_answers_or_refuses(value: Any) -> None:
    try:
        key = key_from_jwk(value)
    except AcmeError as err:
        assert err.status == 400
        return
    assert isinstance(key, jose.JWK)


@FUZZ
@given(st.binary(max_size=100) | json_values.map(lambda v: json.dumps(v).encode()))
def test_payload_json_is_an_object_or_malformed(payload: bytes) -> None:
    verified = Verified(payload, None, {}, None)  # type: ignore[arg-type]
    try:
        assert isinstance(verified.json(), dict)
    except AcmeError as err:
        assert err.status == 400


identifier = st.fixed_dictionaries({}, optional={
    "type": st.sampled_from(["dns", "ip"]) | json_values,
    "value": st.text(max_size=30) | st.from_regex(r"\A(\*\.)?[a-z0-9.-]{1,30}\Z") | json_values})


@FUZZ
@given(st.lists(identifier | json_values, max_size=5) | json_values)
def test_identifiers_parse_or_problem(raw: Any) -> None:
    try:
        values = parse_identifiers(raw)
    except AcmeError as err:
        assert 400 <= err.status < 500
        return
    assert values and all(isinstance(v, str) for v in values)


@FUZZ
@given(json_values | st.fixed_dictionaries({}, optional={
    "end-date": st.sampled_from(["2099-01-01T00:00:00Z", "9999-99-99"]) | json_values,
    "start-date": json_values, "lifetime": st.integers() | json_values,
    "lifetime-adjust": json_values, "allow-certificate-get": json_values}))
def test_auto_renewal_parses_or_refuses(raw: Any) -> None:
    try:
        parse_auto_renewal(raw, LIMITS, 1.7e9)
    except AutoRenewalError:
        pass


@FUZZ
@example(BAD_UTF8_COMMON_NAME, ["a.star.test"])
@example(BIT_STRING_COMMON_NAME, ["a.star.test"])
@given(csr_der(), st.lists(st.sampled_from(["a.star.test", "b.star.test"]), max_size=2))
def test_finalize_csr_is_accepted_or_bad_csr(der: bytes, identifiers: list[str]) -> None:
    try:
        check_csr(der, identifiers)
    except CsrError as err:
        assert str(err)
        event("badCSR")
        return
    event("accepted")

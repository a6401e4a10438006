"""A certificate for an outside CSR (spec.csr) is checked against that CSR's public key: there
is no private key to check it against, and a certificate for any other key is refused."""
from __future__ import annotations

import pytest
from op_pki import NOW, Pki, key

from star_operator.renewal.fetcher import CycleError, verify_with_keys
from star_operator.verify import VerificationError, verify_certificate

NAMES = ["www.star.test"]


def test_a_certificate_for_the_csrs_key_verifies_without_a_private_key() -> None:
    pki, cdn_key = Pki.create(), key()
    chain, _ = pki.leaf(NAMES, leaf_key=cdn_key)
    cert = verify_certificate(chain, cdn_key.public_key(), pki.root_pem, expected_names=NAMES,
                              now=NOW)
    assert cert.dns_names == NAMES


def test_a_certificate_for_another_key_is_refused_naming_the_csr() -> None:
    pki = Pki.create()
    chain, _ = pki.leaf(NAMES)
    with pytest.raises(VerificationError) as refused:
        verify_certificate(chain, key().public_key(), pki.root_pem, expected_names=NAMES,
                           now=NOW)
    assert refused.value.reason == "KeyMismatch" and "CSR's public key" in refused.value.message


def test_the_series_check_takes_a_public_key_as_its_one_candidate() -> None:
    pki, cdn_key = Pki.create(), key()
    chain, _ = pki.leaf(NAMES, leaf_key=cdn_key)
    with pytest.raises(CycleError) as refused:
        verify_with_keys(chain.decode(), [key().public_key()], pki.root_pem,
                         expected_names=tuple(NAMES), end_date=None, key_source="spec.csr",
                         clock_skew=5.0)  # the key is checked before the validity
    assert refused.value.reason == "KeyMismatch"

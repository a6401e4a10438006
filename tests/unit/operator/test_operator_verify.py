"""The verifier refuses anything that must not reach a Secret, and names why."""
from __future__ import annotations

import datetime

import pytest
from op_pki import NOW, Pki, key

from star_operator.verify import VerificationError, verify_certificate

NAMES = ["www.star.test", "cdn.star.test"]
AT = NOW + datetime.timedelta(hours=1)


@pytest.fixture(scope="module")
def pki() -> Pki:
    return Pki.create()


def test_good_chain_passes_and_reports_facts(pki: Pki) -> None:
    chain, key_pem = pki.leaf(NAMES)
    cert = verify_certificate(chain, key_pem, pki.root_pem, expected_names=NAMES, now=AT)
    assert sorted(cert.dns_names) == sorted(NAMES)
    assert cert.not_after == NOW + datetime.timedelta(days=1)
    assert cert.serial == format(cert.leaf.serial_number, "x")
    assert len(cert.chain) == 2


def test_names_compared_as_a_set_case_insensitively(pki: Pki) -> None:
    chain, key_pem = pki.leaf(NAMES)
    verify_certificate(chain, key_pem, pki.root_pem, expected_names=["CDN.star.test.",
                                                                     "www.star.test"], now=AT)


@pytest.mark.parametrize("case,reason", [
    ("other_key", "KeyMismatch"),
    ("wrong_names", "NamesMismatch"),
    ("other_root", "ChainUntrusted"),
    ("expired", "Expired"),
    ("future", "NotYetValid"),
    ("end_date", "BeyondEndDate"),
    ("garbage", "ChainMalformed"),
    ("missing_intermediate", "ChainUntrusted"),
])
def test_refusals_name_the_reason(pki: Pki, case: str, reason: str) -> None:
    chain, key_pem = pki.leaf(NAMES)
    bundle, kwargs = pki.root_pem, {"expected_names": NAMES, "now": AT}
    if case == "other_key":
        key_pem = pki.leaf(NAMES)[1]
    elif case == "wrong_names":
        kwargs["expected_names"] = ["www.star.test"]
    elif case == "other_root":
        bundle = Pki.create().root_pem
    elif case == "expired":
        kwargs["now"] = NOW + datetime.timedelta(days=2)
    elif case == "future":
        kwargs["now"] = NOW - datetime.timedelta(hours=1)
    elif case == "end_date":
        kwargs["end_date"] = NOW + datetime.timedelta(hours=12)
    elif case == "garbage":
        chain = b"not a certificate"
    elif case == "missing_intermediate":
        chain = chain.split(b"-----END CERTIFICATE-----")[0] + b"-----END CERTIFICATE-----\n"
    with pytest.raises(VerificationError) as err:
        verify_certificate(chain, key_pem, bundle, **kwargs)
    assert err.value.reason == reason


def test_intermediate_in_bundle_is_an_anchor(pki: Pki) -> None:
    from op_pki import cert_pem
    chain, key_pem = pki.leaf(NAMES)
    leaf_only = chain.split(b"-----END CERTIFICATE-----")[0] + b"-----END CERTIFICATE-----\n"
    verify_certificate(leaf_only, key_pem, cert_pem(pki.inter), now=AT)


def test_forged_signature_is_refused(pki: Pki) -> None:
    from op_pki import cert_pem, issue
    impostor_key = key()  # signs with a key that merely claims the intermediate's name
    leaf_key = key()
    forged = issue("www.star.test", leaf_key, pki.inter, impostor_key, ca=False, names=NAMES)
    from op_pki import key_pem
    with pytest.raises(VerificationError) as err:
        verify_certificate(cert_pem(forged) + cert_pem(pki.inter), key_pem(leaf_key),
                           pki.root_pem, now=AT)
    assert err.value.reason == "ChainInvalid"

"""The verifier refuses anything that must not reach a Secret, and names why."""
from __future__ import annotations

import datetime

import pytest
from cryptography.x509.oid import ExtendedKeyUsageOID
from op_pki import NOW, Pki, cert_pem, issue, key, key_pem

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
    chain, key_pem = pki.leaf(NAMES)
    leaf_only = chain.split(b"-----END CERTIFICATE-----")[0] + b"-----END CERTIFICATE-----\n"
    verify_certificate(leaf_only, key_pem, cert_pem(pki.inter), now=AT)


def test_forged_signature_is_refused(pki: Pki) -> None:
    impostor_key = key()  # signs with a key that merely claims the intermediate's name
    leaf_key = key()
    forged = issue("www.star.test", leaf_key, pki.inter, impostor_key, ca=False, names=NAMES)
    with pytest.raises(VerificationError) as err:
        verify_certificate(cert_pem(forged) + cert_pem(pki.inter), key_pem(leaf_key),
                           pki.root_pem, now=AT)
    assert err.value.reason == "ChainInvalid"
    assert "is not signed by CN=Test Intermediate" in err.value.message


def _self_signed() -> tuple[bytes, bytes, bytes]:
    leaf_key = key()
    leaf = issue(NAMES[0], leaf_key, None, leaf_key, ca=False, names=NAMES)
    return cert_pem(leaf), key_pem(leaf_key), Pki.create().root_pem


def _expired_intermediate() -> tuple[bytes, bytes, bytes]:
    pki = Pki.create(not_before=NOW - datetime.timedelta(days=400))  # expired 35 days ago
    return (*pki.leaf(NAMES), pki.root_pem)


def _intermediate_not_yet_valid() -> tuple[bytes, bytes, bytes]:
    pki = Pki.create(not_before=NOW + datetime.timedelta(days=2))
    return (*pki.leaf(NAMES), pki.root_pem)


def _intermediate_without_key_cert_sign() -> tuple[bytes, bytes, bytes]:
    pki = Pki.create(key_cert_sign=False)
    return (*pki.leaf(NAMES), pki.root_pem)


def _intermediate_without_basic_constraints() -> tuple[bytes, bytes, bytes]:
    pki = Pki.create(basic_constraints=False)
    return (*pki.leaf(NAMES), pki.root_pem)


def _leaf_signed_by_a_leaf() -> tuple[bytes, bytes, bytes]:
    """A real leaf (basicConstraints cA=false) used as the issuer of another 'certificate'."""
    pki = Pki.create()
    issuer_key, subject_key = key(), key()
    issuer = pki.leaf_cert(["shop.star.test"], issuer_key)
    forged = issue(NAMES[0], subject_key, issuer, issuer_key, ca=False, names=NAMES)
    return cert_pem(forged) + cert_pem(issuer) + cert_pem(pki.inter), key_pem(subject_key), \
        pki.root_pem


def _path_length_violated() -> tuple[bytes, bytes, bytes]:
    """root → intermediate (pathLen 0) → second intermediate → leaf."""
    pki = Pki.create(path_length=0)
    second_key, leaf_key = key(), key()
    second = issue("Second Intermediate", second_key, pki.inter, pki.inter_key, ca=True)
    leaf = issue(NAMES[0], leaf_key, second, second_key, ca=False, names=NAMES)
    return (cert_pem(leaf) + cert_pem(second) + cert_pem(pki.inter), key_pem(leaf_key),
            pki.root_pem)


def _client_auth_only() -> tuple[bytes, bytes, bytes]:
    pki = Pki.create()
    return (*pki.leaf(NAMES, eku=[ExtendedKeyUsageOID.CLIENT_AUTH]), pki.root_pem)


def _leaf_is_a_ca() -> tuple[bytes, bytes, bytes]:
    pki = Pki.create()
    return (*pki.leaf(NAMES, ca=True), pki.root_pem)


def _untrusted_root() -> tuple[bytes, bytes, bytes]:
    pki, stranger = Pki.create(), Pki.create()  # same names, other keys
    return (*pki.leaf(NAMES), stranger.root_pem)


def _no_authority_key_identifier() -> tuple[bytes, bytes, bytes]:
    pki = Pki.create()
    return (*pki.leaf(NAMES, authority_key_id=False), pki.root_pem)


PATH_REFUSALS = [
    (_self_signed, "SelfSigned", "self-signed"),
    (_expired_intermediate, "IntermediateExpired", "intermediate CN=Test Intermediate expired at"),
    (_intermediate_not_yet_valid, "IntermediateNotYetValid", "is not valid before 2030-01-03"),
    (_intermediate_without_key_cert_sign, "IssuerCannotSign", "keyUsage without keyCertSign"),
    (_intermediate_without_basic_constraints, "IssuerNotCA", "basicConstraints absent"),
    (_leaf_signed_by_a_leaf, "IssuerNotCA", "basicConstraints cA=false"),
    (_path_length_violated, "PathLengthExceeded",
     "allows 0 intermediate(s) below it, the chain has 1"),
    (_client_auth_only, "WrongExtendedKeyUsage", "['clientAuth'] does not include serverAuth"),
    (_leaf_is_a_ca, "LeafIsCA", "basicConstraints cA=true"),
    (_untrusted_root, "ChainUntrusted", "nothing in the CA bundle or the chain signed"),
    (_no_authority_key_identifier, "ChainInvalid", "does not pass path validation"),
]


@pytest.mark.parametrize("build,reason,why", PATH_REFUSALS, ids=[c[0].__name__.strip("_")
                                                                for c in PATH_REFUSALS])
def test_path_validation_refusals_name_the_defect(build, reason: str, why: str) -> None:
    chain, leaf_key, bundle = build()
    with pytest.raises(VerificationError) as err:
        verify_certificate(chain, leaf_key, bundle, expected_names=NAMES, now=AT)
    assert err.value.reason == reason
    assert why in err.value.message
    assert "; validator: " in err.value.message  # then the path validator's own words


def test_path_refusal_reasons_are_distinct() -> None:
    defects = {why: reason for _, reason, why in PATH_REFUSALS}
    assert len(set(defects.values())) == len(PATH_REFUSALS) - 1  # the two IssuerNotCA forms


def test_name_mismatch_is_its_own_reason(pki: Pki) -> None:
    chain, key_pem_ = pki.leaf(["shop.star.test"])
    with pytest.raises(VerificationError) as err:
        verify_certificate(chain, key_pem_, pki.root_pem, expected_names=NAMES, now=AT)
    assert err.value.reason == "NamesMismatch"
    assert "missing ['cdn.star.test', 'www.star.test'], unexpected ['shop.star.test']" \
        in err.value.message


@pytest.mark.parametrize("variant", ["no_eku", "with_root", "extra_unrelated", "wildcard"])
def test_valid_variants_pass(pki: Pki, variant: str) -> None:
    names = ["*.star.test"] if variant == "wildcard" else NAMES
    chain, key_pem_ = pki.leaf(names, eku=None) if variant == "no_eku" else pki.leaf(names)
    if variant == "with_root":
        chain += pki.root_pem
    elif variant == "extra_unrelated":
        chain += cert_pem(Pki.create().inter)
    cert = verify_certificate(chain, key_pem_, pki.root_pem, expected_names=names, now=AT)
    assert cert.dns_names == names


def test_validation_without_expected_names_uses_the_leafs(pki: Pki) -> None:
    chain, key_pem_ = pki.leaf(NAMES)
    assert verify_certificate(chain, key_pem_, pki.root_pem, now=AT).dns_names == NAMES
    with pytest.raises(VerificationError) as err:
        verify_certificate(*pki.leaf(NAMES, eku=[ExtendedKeyUsageOID.CLIENT_AUTH]),
                           pki.root_pem, now=AT)
    assert err.value.reason == "WrongExtendedKeyUsage"


@pytest.mark.parametrize("now,reason", [
    (AT - datetime.timedelta(seconds=3), None),  # the CA's clock 3 s ahead: within the skew
    (AT - datetime.timedelta(seconds=8), "NotYetValid"),
    (AT + datetime.timedelta(days=1, seconds=3), None),  # expired 3 s ago: within the skew
    (AT + datetime.timedelta(days=1, seconds=8), "Expired"),
], ids=["ahead-3s", "ahead-8s", "expired-3s", "expired-8s"])
def test_clock_skew_applies_to_the_leaf_window(pki: Pki, now: datetime.datetime,
                                               reason: str | None) -> None:
    """The path validator's time check is exact: it runs at ``now`` moved into the leaf's
    window, and the explicit checks with the 5 s skew decide Expired / NotYetValid."""
    chain, key_pem_ = pki.leaf(NAMES, not_before=AT)  # valid AT .. AT + 1 day
    if reason is None:
        verify_certificate(chain, key_pem_, pki.root_pem, expected_names=NAMES, now=now)
        return
    with pytest.raises(VerificationError) as err:
        verify_certificate(chain, key_pem_, pki.root_pem, expected_names=NAMES, now=now)
    assert err.value.reason == reason

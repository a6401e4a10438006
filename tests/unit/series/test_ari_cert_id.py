"""The ARI CertID (RFC 9773 §4.1) and capability detection from a directory."""
from __future__ import annotations

import datetime

import pytest
from acme.client import _renewal_info_path_component
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from star_operator import acme
from star_operator.acme.ari import cert_id, serial_content_octets
from star_operator.ordering.capabilities import Capabilities, profile_problem


def _cert(serial: int, aki: bool = True) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "t")])
    now = datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)
    b = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
         .public_key(key.public_key()).serial_number(serial).not_valid_before(now)
         .not_valid_after(now + datetime.timedelta(days=1)))
    if aki:
        b = b.add_extension(x509.AuthorityKeyIdentifier(b"\x69\x88\x5b\x6b\x87\x46\x40\x41"
                                                        b"\xe1\xb3\x7b\x84\x7b\xa0\xae\x2c"
                                                        b"\xde\x01\xc8\xd4", None, None),
                            critical=False)
    return b.sign(key, hashes.SHA256())


def test_rfc_9773_example() -> None:
    """The worked example of RFC 9773 §4.1 (AKI 69:88:5B:..., serial 00:87:65:43:21)."""
    assert cert_id(_cert(0x87654321)) == "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"


@pytest.mark.parametrize("serial", [1, 0x7F, 0x80, 0xFF, 0x0100, 2**63, 2**159 - 1])
def test_same_as_certbots_acme(serial: int) -> None:
    assert cert_id(_cert(serial)) == _renewal_info_path_component(_cert(serial))


def test_serial_octets_gain_a_zero_when_the_top_bit_is_set() -> None:
    assert serial_content_octets(0x7F) == b"\x7f"
    assert serial_content_octets(0x80) == b"\x00\x80"


def test_no_authority_key_identifier_cannot_be_named() -> None:
    with pytest.raises(ValueError, match="Authority Key Identifier"):
        cert_id(_cert(5, aki=False))


def _directory(meta: dict, **extra: str) -> acme.Directory:
    return acme.Directory.from_json({"newNonce": "n", "newAccount": "a", "newOrder": "o",
                                     "meta": meta, **extra})


def test_capabilities_native_star() -> None:
    caps = Capabilities.of(_directory({"auto-renewal": {"min-lifetime": 1}}))
    assert (caps.mode, caps.summary) == ("Native", "STAR")


def test_capabilities_public_ca_with_profiles_and_ari() -> None:
    caps = Capabilities.of(_directory({"profiles": {"shortlived": "160h", "classic": "90d"}},
                                      renewalInfo="https://ca/ari"))
    assert caps.to_status() == {"nativeStar": False, "profiles": ["classic", "shortlived"],
                                "ari": True, "mode": "Emulated",
                                "summary": "Emulated+profiles+ARI"}


def test_capabilities_bare_rfc_8555() -> None:
    caps = Capabilities.of(_directory({}))
    assert (caps.mode, caps.summary, caps.ari, caps.profiles) == ("Emulated", "Emulated",
                                                                  False, ())


def test_profile_checks() -> None:
    offered = Capabilities(native_star=False, profiles=("classic", "shortlived"), ari=True)
    assert profile_problem(None, offered) is None
    assert profile_problem("shortlived", offered) is None
    assert "not offered" in (profile_problem("tiny", offered) or "")
    assert "classic, shortlived" in (profile_problem("tiny", offered) or "")
    assert "no ACME profiles" in (profile_problem("shortlived",
                                                  Capabilities(False, (), False)) or "")

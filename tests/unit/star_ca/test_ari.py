"""RFC 9773 certIDs and renewal windows (star_ca.ari)."""
from __future__ import annotations

import base64
import datetime as dt

import pytest
from acme.client import _renewal_info_path_component
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from star_ca.ari import (MAX_RETRY_AFTER, CertIdError, cert_id, parse_cert_id, retry_after,
                         suggested_window)

# RFC 9773 §4.1: keyIdentifier 69:88:5B:...:D4 and serial 0x87654321 (DER 00 87 65 43 21)
RFC_KEY_ID = bytes.fromhex("69885B6B87464041E1B37B847BA0AE2CDE01C8D4")
RFC_CERT_ID = "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"


def test_rfc_example() -> None:
    assert cert_id(RFC_KEY_ID, 0x87654321) == RFC_CERT_ID
    assert parse_cert_id(RFC_CERT_ID) == (RFC_KEY_ID, 0x87654321)


@pytest.mark.parametrize("serial", [1, 0x7F, 0x80, 0xFF, 0x100, 1 << 120, (1 << 127) + 5])
def test_round_trip_keeps_the_sign_octet(serial: int) -> None:
    text = cert_id(b"\x01\x02", serial)
    assert parse_cert_id(text) == (b"\x01\x02", serial)
    part = text.split(".")[1]
    octets = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    assert int.from_bytes(octets, "big") == serial and octets[0] < 0x80  # sign bit clear
    assert len(octets) == 1 or octets[0] != 0 or octets[1] >= 0x80  # in the fewest octets


def _certificate(serial: int) -> x509.Certificate:
    issuer_key = ec.generate_private_key(ec.SECP256R1())
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "a.star.test")])
    now = dt.datetime.now(dt.timezone.utc)
    aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key())
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(serial)
            .not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(aki, False).sign(issuer_key, hashes.SHA256()))


def test_matches_the_acme_library() -> None:
    """certbot's acme computes the certID from a certificate on its own: the two agree."""
    for serial in (0x87654321, 0x7F12, (1 << 127) | 3):
        cert = _certificate(serial)
        aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
        assert aki.key_identifier is not None
        assert cert_id(aki.key_identifier, cert.serial_number) == _renewal_info_path_component(cert)


@pytest.mark.parametrize("text", [
    "", "abc", "a.b.c", ".AIdlQyE", "aYhba4dGQEHhs3uEe6CuLN4ByNQ.",
    RFC_CERT_ID + "=",          # padding
    "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdl+yE",  # not url-safe
    "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyF",  # stray bits: not canonical
    "aYhba4dGQEHhs3uEe6CuLN4ByNQ.hw",      # 0x87: negative
    "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AAE",     # 00 01: not minimal
    "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AA",      # zero
])
def test_malformed_cert_ids(text: str) -> None:
    with pytest.raises(CertIdError):
        parse_cert_id(text)


def test_window_is_two_thirds_to_five_sixths() -> None:
    w = suggested_window(1000, 1006, revoked=False, now=1001)
    assert (w.start, w.end) == (1004, 1005)
    day = 86400
    w = suggested_window(0, 90 * day, revoked=False, now=0)
    assert (w.start, w.end) == (60 * day, 75 * day)


def test_window_is_never_empty() -> None:
    w = suggested_window(1000, 1001, revoked=False, now=1000)
    assert w.end > w.start


def test_revoked_window_has_passed() -> None:
    w = suggested_window(1000, 1000 + 90 * 86400, revoked=True, now=5000.7)
    assert (w.start, w.end) == (4999, 5000)


def test_retry_after_is_a_tenth_of_the_lifetime_within_bounds() -> None:
    assert retry_after(0, 6) == 1
    assert retry_after(0, 100) == 10
    assert retry_after(0, 90 * 86400) == MAX_RETRY_AFTER == 21600

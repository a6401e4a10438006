"""ACME Renewal Information (RFC 9773), the pure part: certificate identifiers and windows.

A public CA without STAR tells clients when to renew through ARI; a client emulating a STAR
series renews at the suggested window and names the certificate it ``replaces``. The certID
(§4.1) is base64url(AKI keyIdentifier) "." base64url(the serial's DER INTEGER content octets),
both without padding. This CA signs every leaf with one intermediate, so the keyIdentifier part
only has to match that intermediate's.

The window: renew from 2/3 to 5/6 of the lifetime, which leaves a sixth of it as margin after
the window closes; a revoked certificate gets a window that has already passed, so clients
renew at once (§4.2).
"""
from __future__ import annotations

import base64
import re
from dataclasses import dataclass

B64URL = re.compile(r"^[A-Za-z0-9_-]+$")
MAX_RETRY_AFTER = 6 * 3600


class CertIdError(ValueError):
    """A certID that is not two canonical base64url parts naming a positive serial."""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(part: str) -> bytes:
    """Strict inverse of _b64url: no padding, no stray bits, so every certID has one form."""
    if not B64URL.match(part) or len(part) % 4 == 1:
        raise CertIdError(f"{part!r} is not unpadded base64url")
    data = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    if _b64url(data) != part:
        raise CertIdError(f"{part!r} is not canonical base64url")
    return data


def serial_octets(serial: int) -> bytes:
    """Content octets of the DER INTEGER for a positive serial: big-endian in the fewest
    octets that leave the sign bit clear (a leading zero octet when the top bit is set)."""
    return serial.to_bytes(serial.bit_length() // 8 + 1, "big")


def cert_id(key_identifier: bytes, serial: int) -> str:
    return f"{_b64url(key_identifier)}.{_b64url(serial_octets(serial))}"


def parse_cert_id(text: str) -> tuple[bytes, int]:
    """(keyIdentifier, serial) of a certID; CertIdError when it is malformed."""
    parts = text.split(".")
    if len(parts) != 2:
        raise CertIdError("a certID is two base64url parts joined by '.'")
    key_identifier, octets = (_unb64url(p) for p in parts)
    serial = int.from_bytes(octets, "big", signed=True)
    if serial <= 0 or serial_octets(serial) != octets:
        raise CertIdError("the serial part is not the DER encoding of a positive serial")
    return key_identifier, serial


@dataclass(frozen=True)
class SuggestedWindow:
    start: int
    end: int


def suggested_window(not_before: float, not_after: float, revoked: bool,
                     now: float) -> SuggestedWindow:
    """Renew between 2/3 and 5/6 of the lifetime (at least one second wide); a revoked
    certificate's window ends now, so it is already due."""
    if revoked:
        return SuggestedWindow(int(now) - 1, int(now))
    nb, lifetime = int(not_before), int(not_after - not_before)
    start = nb + lifetime * 2 // 3
    return SuggestedWindow(start, max(nb + lifetime * 5 // 6, start + 1))


def retry_after(not_before: float, not_after: float) -> int:
    """Seconds until a client should ask again: a tenth of the lifetime, 1 s to 6 h."""
    return min(MAX_RETRY_AFTER, max(1, int(not_after - not_before) // 10))

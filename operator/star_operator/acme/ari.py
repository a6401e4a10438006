"""ACME Renewal Information (RFC 9773): the certificate identifier and the renewal window.

A CA without STAR still knows best when its certificates should be replaced (it may revoke a
batch, or spread load); ARI is how it says so. The identifier is built from the certificate's
Authority Key Identifier and serial with `cryptography` (certbot's `acme` has the same only as
a private helper, which the unit tests check this against); the answer is decoded by
`acme.messages.RenewalInfo`.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping

import josepy as jose
from acme import messages
from cryptography import x509

from .errors import AcmeProtocolError


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def serial_content_octets(serial: int) -> bytes:
    """The content octets of the DER INTEGER encoding of a (positive) serial number.

    RFC 9773 §4.1 names exactly these bytes: big-endian two's complement in the fewest octets,
    so a serial whose top bit is set gains a leading zero octet.
    """
    return serial.to_bytes(serial.bit_length() // 8 + 1, "big")


def cert_id(cert: x509.Certificate) -> str:
    """The ARI CertID: base64url(AKI keyIdentifier) "." base64url(serial octets).

    Raises `ValueError` when the certificate has no key identifier in its AKI extension: such a
    certificate cannot be named to the CA, and the caller falls back to its own timing.
    """
    try:
        aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    except x509.ExtensionNotFound as exc:
        raise ValueError("certificate has no Authority Key Identifier") from exc
    if not aki.key_identifier:
        raise ValueError("certificate's Authority Key Identifier has no keyIdentifier")
    return f"{_b64url(aki.key_identifier)}.{_b64url(serial_content_octets(cert.serial_number))}"


@dataclass(frozen=True)
class RenewalInfo:
    """A `renewalInfo` answer: the suggested window and when to ask again (`retry_after`, s)."""

    start: datetime
    end: datetime
    retry_after: float | None
    explanation_url: str | None = None

    @classmethod
    def from_json(cls, url: str, doc: Any, retry_after: float | None) -> "RenewalInfo":
        """Parse the body with `acme.messages.RenewalInfo`; a window that is missing,
        unparsable or inverted is a protocol error."""
        try:
            window = messages.RenewalInfo.from_json(doc).suggested_window
        except (jose.DeserializationError, TypeError, ValueError) as exc:
            raise AcmeProtocolError(f"{url}: malformed renewalInfo: {exc}") from exc
        start, end = window.start, window.end
        if start is None or end is None or end < start:
            raise AcmeProtocolError(f"{url}: renewalInfo without a valid suggestedWindow")
        explanation = doc.get("explanationURL") if isinstance(doc, Mapping) else None
        return cls(start=start, end=end, retry_after=retry_after,
                   explanation_url=explanation if isinstance(explanation, str) else None)

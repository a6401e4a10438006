"""External Account Binding (RFC 8555 §7.3.4): how an NDC proves the DNO invited it.

The DNO hands the CDN a key id and a MAC key out of band; newAccount then carries a second JWS,
HS256 over the new account's public JWK, made by `acme.messages.ExternalAccountBinding` (josepy
underneath, never assembled here by hand). The MAC key is secret: it is checked and decoded
here so a malformed one is refused with a message that names the field, never the value.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass, field
from typing import Any

import josepy as jose
from acme import messages


_B64URL = re.compile(r"[A-Za-z0-9_-]+={0,2}")


class EabError(ValueError):
    """The binding credentials are unusable; the message names the field, never the key."""


@dataclass(frozen=True)
class EabCredentials:
    """A key id and its base64url MAC key (`keyID` / `hmacKey` of the CDN's Secret)."""

    key_id: str
    hmac_key: str = field(repr=False)

    def __post_init__(self) -> None:
        if not self.key_id.strip():
            raise EabError("keyID is empty")
        text = self.hmac_key.strip()
        try:  # josepy's decoder skips stray characters; a key with them is a paste error
            if not _B64URL.fullmatch(text):
                raise ValueError
            raw = jose.b64.b64decode(text)
        except (binascii.Error, ValueError):
            raise EabError("hmacKey is not base64url") from None
        if len(raw) < 16:  # RFC 7518 §3.2: HS256 wants at least 256 bits; 128 is the floor here
            raise EabError(f"hmacKey decodes to {len(raw)} bytes; a MAC key needs at least 16")


def binding(account_key: jose.JWK, creds: EabCredentials, new_account_url: str) -> dict[str, Any]:
    """The `externalAccountBinding` member of newAccount: a flattened JWS, protected header
    {alg: HS256, kid: key id, url: newAccount URL}, payload the account's public JWK."""
    return messages.ExternalAccountBinding.from_data(
        account_key.public_key(), creds.key_id, creds.hmac_key.strip(),
        messages.Directory({"newAccount": new_account_url}))

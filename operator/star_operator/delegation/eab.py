"""External Account Binding (RFC 8555 §7.3.4): the proof that a new NDC account was made by
the CDN the DNO gave a key id and MAC key to.

The binding is a flattened JWS whose protected header is ``{alg: HS256|HS384|HS512, kid, url}``
(no nonce, no jwk), whose payload is the account's public JWK, and whose MAC is made with the
shared key. Parsing and the MAC check are josepy's; this module decides what is allowed and
maps each failure to the error type RFC 8555 gives it: no binding → ``externalAccountRequired``,
a binding of the wrong shape → ``malformed``, an unknown key id or a MAC that does not verify →
``unauthorized``.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import josepy as jose

from star_ca.problems import AcmeError
from star_ca.wfe.jws import Flattened, parse_flattened

MAC_ALGS = ("HS256", "HS384", "HS512")
#: RFC 8555 does not fix a size; below 256 bits a MAC key is guessable offline from one binding.
MIN_MAC_KEY_BYTES = 32


@dataclasses.dataclass(frozen=True)
class Binding:
    """A well-formed binding whose MAC is still to be checked against ``key_id``'s key."""

    key_id: str
    flat: Flattened


def parse(value: Any, new_account_url: str, account_key: jose.JWK) -> Binding:
    """Shape, header and payload checks; the MAC is checked by :func:`verify_mac`."""
    if value is None:
        raise AcmeError("externalAccountRequired", "this server requires an "
                        "externalAccountBinding made with the key id and MAC key the domain "
                        "owner gave you", status=403)
    if not isinstance(value, dict):
        raise AcmeError("malformed", "externalAccountBinding must be a flattened JWS object")
    try:
        flat = parse_flattened(value, MAC_ALGS)
    except AcmeError as err:
        raise AcmeError("malformed", f"externalAccountBinding: {err.detail}") from None
    header = flat.header
    if "nonce" in header or "jwk" in header:
        raise AcmeError("malformed", "externalAccountBinding header must not carry a nonce "
                                     "or a jwk")
    if not isinstance(header.get("kid"), str) or not header["kid"]:
        raise AcmeError("malformed", "externalAccountBinding header needs the key id as kid")
    if header.get("url") != new_account_url:
        raise AcmeError("malformed", f"externalAccountBinding url {header.get('url')!r} is "
                                     f"not {new_account_url!r}")
    try:
        bound = jose.JWK.from_json(json.loads(flat.jws.payload))
    except Exception:  # junk JSON or key members raise assorted errors
        raise AcmeError("malformed", "externalAccountBinding payload is not a JWK") from None
    if not isinstance(bound, jose.JWK) or bound.thumbprint() != account_key.thumbprint():
        raise AcmeError("malformed", "externalAccountBinding payload is not the account key "
                                     "of this request")
    return Binding(header["kid"], flat)


def decode_mac_key(text: str) -> bytes:
    """The MAC key as the DNO stores it (base64url, padding optional); ValueError if unusable."""
    try:
        key = jose.b64.b64decode(text.strip())
    except (ValueError, TypeError):
        raise ValueError("the MAC key is not base64url") from None
    if len(key) < MIN_MAC_KEY_BYTES:
        raise ValueError(f"the MAC key has {len(key)} bytes; at least {MIN_MAC_KEY_BYTES} "
                         "are required")
    return key


def verify_mac(binding: Binding, mac_key: bytes) -> bool:
    """Whether the binding's MAC was made with ``mac_key`` (constant-time in cryptography)."""
    try:
        return bool(binding.flat.jws.verify(jose.JWKOct(key=mac_key)))
    except Exception:  # josepy raises assorted errors on junk signatures
        return False

"""Strict JWS checks for every ACME POST (RFC 8555 §6.2-6.5).

Parsing and signature verification are josepy's (via ``acme.jws``); this module only decides
what is *allowed*: flattened serialization only, no unprotected header, an ``alg`` from a short
allow-list that must match the key (never ``none`` or a MAC), exactly one of ``jwk`` / ``kid``,
a single-use nonce, and a ``url`` equal to the URL the request was sent to.
"""
from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, cast

import josepy as jose
from acme import jws as acme_jws

from star_ca.ca.keys import MIN_RSA_BITS
from star_ca.db import Account
from star_ca.problems import AcmeError

# alg -> the JWK "crv" it requires (None: RSA)
ALLOWED_ALGS = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521", "RS256": None}
JOSE_CONTENT_TYPE = "application/jose+json"
# cryptography's curve name -> JWK "crv", read off the parsed key (rendering the key as a JWK
# to look at its "crv" cost more than the signature check on every request)
CURVE_NAMES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}


@dataclass
class Flattened:
    """A parsed flattened JWS whose protected header is available as a dict."""

    jws: acme_jws.JWS
    header: dict[str, Any]
    raw: dict[str, Any]


@dataclass
class Verified:
    """A request whose signature, nonce and url have been checked."""

    payload: bytes
    key: jose.JWK
    header: dict[str, Any]
    account: Account | None

    @property
    def post_as_get(self) -> bool:
        return self.payload == b""

    def json(self) -> dict[str, Any]:
        """The payload as a JSON object; malformed otherwise."""
        try:
            obj = json.loads(self.payload)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise AcmeError("malformed", "JWS payload is not JSON") from None
        if not isinstance(obj, dict):
            raise AcmeError("malformed", "JWS payload must be a JSON object")
        return obj


def parse_flattened(body: bytes | dict[str, Any],
                    algs: Collection[str] = tuple(ALLOWED_ALGS)) -> Flattened:
    """Flattened JSON serialization with exactly protected/payload/signature and an ``alg``
    from ``algs`` (account signatures by default; the delegation front end passes the MAC
    algorithms for an External Account Binding)."""
    try:
        obj = json.loads(body) if isinstance(body, bytes) else body
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise AcmeError("malformed", "request body is not JSON") from None
    if not isinstance(obj, dict):
        raise AcmeError("malformed", "request body must be a JWS object")
    if "signatures" in obj:
        raise AcmeError("malformed", "general JWS serialization is not allowed; use flattened")
    if "header" in obj:
        raise AcmeError("malformed", "unprotected JWS header is not allowed")
    fields = ("protected", "payload", "signature")
    if set(obj) != set(fields) or not all(isinstance(obj[f], str) for f in fields):
        raise AcmeError("malformed", "JWS must have exactly string protected, payload and "
                                     "signature members")
    try:
        header = json.loads(jose.decode_b64jose(obj["protected"]))
    except (jose.DeserializationError, ValueError, UnicodeDecodeError, RecursionError):
        raise AcmeError("malformed", "JWS protected header is not base64url JSON") from None
    if not isinstance(header, dict):
        raise AcmeError("malformed", "JWS protected header must be a JSON object")
    alg = header.get("alg")
    if alg not in algs:
        raise AcmeError("badSignatureAlgorithm", f"JWS alg {alg!r} is not supported",
                        extra={"algorithms": sorted(algs)})
    try:
        parsed = cast(acme_jws.JWS, acme_jws.JWS.from_json(obj))
    except Exception as exc:  # josepy surfaces junk as many exception types (KeyError, ...)
        raise AcmeError("malformed", f"JWS could not be parsed: {exc}") from None
    return Flattened(parsed, header, obj)


def key_from_jwk(value: Any) -> jose.JWK:
    """A public JWK from the ``jwk`` header; badPublicKey for MAC, private or weak keys."""
    if not isinstance(value, dict):
        raise AcmeError("malformed", "jwk header must be a JSON object")
    if value.get("kty") not in ("EC", "RSA"):
        raise AcmeError("badPublicKey", f"jwk kty {value.get('kty')!r} not supported; "
                                        "use EC or RSA")
    if "d" in value:
        raise AcmeError("badPublicKey", "jwk contains a private key")
    try:
        key = cast(jose.JWK, jose.JWK.from_json(value))  # typed as its JSON base class
    except Exception as exc:  # as above: junk key members raise assorted errors
        raise AcmeError("badPublicKey", f"jwk is not a valid public key: {exc}") from None
    return key


def check_alg_matches_key(alg: str, key: jose.JWK) -> None:
    """ES256 needs P-256 and so on; RS256 needs RSA of at least 2048 bits."""
    if alg == "RS256":
        if not isinstance(key, jose.JWKRSA):
            raise AcmeError("badSignatureAlgorithm", "alg RS256 needs an RSA key",
                            extra={"algorithms": sorted(ALLOWED_ALGS)})
        bits = key.public_key().key.key_size
        if bits < MIN_RSA_BITS:
            raise AcmeError("badPublicKey", f"RSA key of {bits} bits is too small")
        return
    if not isinstance(key, jose.JWKEC) or CURVE_NAMES.get(key.key.curve.name) != ALLOWED_ALGS[alg]:
        raise AcmeError("badSignatureAlgorithm", f"alg {alg} does not match the key",
                        extra={"algorithms": sorted(ALLOWED_ALGS)})


def verify_signature(flat: Flattened, key: jose.JWK) -> None:
    check_alg_matches_key(flat.header["alg"], key)
    try:
        ok = flat.jws.verify(key)
    except Exception:  # josepy/cryptography raise various errors on junk signatures
        ok = False
    if not ok:
        raise AcmeError("malformed", "JWS signature does not verify")


def check_header_shape(header: dict[str, Any], *, need_nonce: bool) -> None:
    if ("jwk" in header) == ("kid" in header):
        raise AcmeError("malformed", "JWS protected header needs exactly one of jwk and kid")
    if not isinstance(header.get("url"), str):
        raise AcmeError("malformed", "JWS protected header has no url")
    if need_nonce and not isinstance(header.get("nonce"), str):
        raise AcmeError("badNonce", "JWS protected header has no nonce")

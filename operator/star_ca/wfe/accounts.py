"""newAccount, account update/deactivation and keyChange (RFC 8555 §7.3)."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, cast

import josepy as jose
from aiohttp import web

from star_ca.db import Account
from star_ca.lifecycle import new_id
from star_ca.problems import AcmeError
from star_ca.wfe import urls
from star_ca.wfe.jws import key_from_jwk, parse_flattened, verify_signature
from star_ca.wfe.render import account_json
from star_ca.wfe.responses import json_response
from star_ca.wfe.request import require_account, verify_request

MAX_CONTACTS = 10


def thumbprint(key: jose.JWK) -> str:
    """RFC 7638 SHA-256 thumbprint, base64url: the account's identity and keyAuth suffix."""
    return jose.encode_b64jose(key.thumbprint())


def public_jwk(key: jose.JWK) -> dict[str, Any]:
    doc: dict[str, Any] = key.public_key().to_partial_json()
    return {k: v for k, v in doc.items() if k in ("kty", "crv", "x", "y", "n", "e")}


def validate_contacts(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        raise AcmeError("malformed", "contact must be a list of strings")
    if len(value) > MAX_CONTACTS:
        raise AcmeError("malformed", f"at most {MAX_CONTACTS} contacts")
    for c in value:
        if not c.startswith("mailto:"):
            raise AcmeError("unsupportedContact", f"contact {c!r}: only mailto: is supported")
        addr = c[len("mailto:"):]
        local, at, domain = addr.partition("@")
        if not (local and at and "." in domain) or any(ch in addr for ch in "?,; \t<>"):
            raise AcmeError("invalidContact", f"contact {c!r} is not a single e-mail address")
    return value


def _account_response(request: web.Request, acc: Account, status: int) -> web.Response:
    links = urls.links(request)
    return json_response(account_json(links, acc), status, {"Location": links.account(acc.id)})


async def new_account(request: web.Request) -> web.Response:
    v = await verify_request(request, "jwk")
    payload = v.json()
    store = urls.svc(request).store
    thumb = thumbprint(v.key)
    existing = await store.account_by_thumbprint(thumb)
    if existing is not None:
        if existing.status != "valid":
            raise AcmeError("unauthorized", f"the account for this key is {existing.status}")
        return _account_response(request, existing, 200)
    if payload.get("onlyReturnExisting") is True:
        raise AcmeError("accountDoesNotExist", "no account exists for this key")
    tos = payload.get("termsOfServiceAgreed", False)
    if not isinstance(tos, bool):
        raise AcmeError("malformed", "termsOfServiceAgreed must be a boolean")
    acc = Account(new_id(), thumb, public_jwk(v.key), "valid",
                  validate_contacts(payload.get("contact", [])), tos)
    stored = await store.create_account(acc, time.time())
    if stored.id != acc.id:  # a request with the same key won the race, on another replica
        return _account_response(request, stored, 200)
    return _account_response(request, acc, 201)


async def account(request: web.Request) -> web.Response:
    v = await verify_request(request, "kid")
    acc = require_account(v)
    if acc.id != request.match_info["id"]:
        raise AcmeError("unauthorized", "the kid account does not own this account URL")
    if not v.post_as_get:
        payload = v.json()
        if "status" in payload:
            if payload["status"] != "deactivated":
                raise AcmeError("malformed", "account status can only be set to deactivated")
            acc.status = "deactivated"
        if "contact" in payload:
            acc.contact = validate_contacts(payload["contact"])
        await urls.svc(request).store.update_account(acc)
    return _account_response(request, acc, 200)


@dataclass(frozen=True)
class KeyChange:
    """A keyChange request whose inner JWS passed RFC 8555 §7.3.5's checks that need no
    account store: the new key (it signed the inner JWS) and the ``oldKey`` it names."""

    new_key: jose.JWK
    old_key: jose.JWK


def parse_key_change(outer_payload: dict[str, Any], outer_header: dict[str, Any]) -> KeyChange:
    """The inner JWS of a keyChange whose outer JWS (``kid``, nonce, url) already verified:
    flattened, ``jwk`` and no ``kid``, no nonce, the outer url, a signature by that jwk, and a
    payload with ``account`` equal to the outer ``kid`` and an ``oldKey``. Shared by star-ca
    and the delegation front end; what remains is each server's account lookup (``oldKey`` is
    the account's current key, the new key belongs to no account)."""
    inner = parse_flattened(outer_payload)
    h = inner.header
    if "jwk" not in h or "kid" in h:
        raise AcmeError("malformed", "keyChange inner JWS must carry the new key as jwk")
    if "nonce" in h:
        raise AcmeError("malformed", "keyChange inner JWS must not have a nonce")
    if h.get("url") != outer_header["url"]:
        raise AcmeError("malformed", "keyChange inner JWS url differs from the outer url")
    new_key = key_from_jwk(h["jwk"])
    verify_signature(inner, new_key)
    try:
        body = json.loads(inner.jws.payload)
        old_key = cast(jose.JWK, jose.JWK.from_json(body["oldKey"]))
        named_account = body["account"]
    except Exception:  # junk JSON or key members raise assorted errors
        raise AcmeError("malformed", "keyChange payload needs account and oldKey") from None
    if named_account != outer_header["kid"]:
        raise AcmeError("malformed", "keyChange account does not match the kid")
    return KeyChange(new_key, old_key)


async def key_change(request: web.Request) -> web.Response:
    v = await verify_request(request, "kid")
    acc = require_account(v)
    change = parse_key_change(v.json(), v.header)
    if thumbprint(change.old_key) != acc.thumbprint:
        raise AcmeError("malformed", "keyChange oldKey is not the account's current key")
    new_thumb = thumbprint(change.new_key)
    store = urls.svc(request).store
    holder = await store.account_by_thumbprint(new_thumb)
    if holder is not None:
        raise AcmeError("malformed", "the new key is already used by an account", status=409,
                        headers={"Location": urls.links(request).account(holder.id)})
    acc.thumbprint, acc.jwk = new_thumb, public_jwk(change.new_key)
    await store.update_account(acc)
    return _account_response(request, acc, 200)

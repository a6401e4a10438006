"""Turn an aiohttp POST into a Verified ACME request, or an AcmeError. Order of checks:
content type, size (aiohttp's ``client_max_size``), JWS shape, key (``jwk`` or the ``kid``
account), signature, then nonce and ``url``, so a forged request cannot burn a nonce."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Literal, TypeVar

import josepy as jose
from aiohttp import web

from star_ca.db import Account
from star_ca.problems import AcmeError
from star_ca.wfe import urls
from star_ca.wfe.nonces import Nonces
from star_ca.wfe.jws import (JOSE_CONTENT_TYPE, Verified, check_header_shape, key_from_jwk,
                             parse_flattened, verify_signature)

Auth = Literal["jwk", "kid", "any"]
A = TypeVar("A")


async def account_for_kid(request: web.Request, kid: object) -> Account:
    account_id = urls.links(request).account_id(kid)
    if account_id is None:
        raise AcmeError("accountDoesNotExist", f"kid {kid!r} is not an account URL of this CA")
    account = await urls.svc(request).store.account(account_id)
    if account is None:
        raise AcmeError("accountDoesNotExist", f"no account at {kid}")
    if account.status != "valid":
        raise AcmeError("unauthorized", f"account {kid} is {account.status}")
    return account


KidResolver = Callable[[object], Awaitable[tuple[jose.JWK, A]]]


async def check_post(request: web.Request, auth: Auth, resolve_kid: KidResolver[A],
                     nonces: Nonces, expected_url: str) -> tuple[Verified, A | None]:
    """The checks of every ACME POST, for any server: ``resolve_kid`` turns a ``kid`` into
    the account's key and whatever the server calls an account (star-ca: its database row;
    the delegation front end: an NDC account bound in a Delegation's status)."""
    if request.content_type != JOSE_CONTENT_TYPE:
        raise AcmeError("malformed", f"Content-Type must be {JOSE_CONTENT_TYPE}", status=415)
    flat = parse_flattened(await request.read())
    header = flat.header
    check_header_shape(header, need_nonce=True)
    if auth == "jwk" and "jwk" not in header:
        raise AcmeError("malformed", "this resource requires a jwk header, not kid")
    if auth == "kid" and "kid" not in header:
        raise AcmeError("malformed", "this resource requires a kid header, not jwk")
    account: A | None = None
    if "jwk" in header:
        key = key_from_jwk(header["jwk"])
    else:
        key, account = await resolve_kid(header["kid"])
    verify_signature(flat, key)
    if not await nonces.consume(header["nonce"]):
        raise AcmeError("badNonce", "JWS nonce is unknown or was already used")
    if header["url"] != expected_url:
        raise AcmeError("unauthorized", f"JWS url {header['url']!r} is not the request URL "
                                        f"{expected_url!r}")
    return Verified(flat.jws.payload, key, header, None), account


async def verify_request(request: web.Request, auth: Auth = "kid") -> Verified:
    async def resolve(kid: object) -> tuple[jose.JWK, Account]:
        account = await account_for_kid(request, kid)
        return urls.svc(request).account_keys.key(account), account

    verified, account = await check_post(request, auth, resolve, urls.svc(request).nonces,
                                         urls.request_url(request))
    verified.account = account
    return verified


def require_account(v: Verified) -> Account:
    assert v.account is not None
    return v.account

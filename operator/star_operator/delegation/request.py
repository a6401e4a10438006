"""Turn an aiohttp POST into a verified NDC request, or an AcmeError.

star-ca's checks, in star-ca's order (:func:`star_ca.wfe.request.check_post`); only the account
lookup differs: NDC accounts live in the Delegations' status
(:mod:`star_operator.delegation.binding`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import josepy as jose
from aiohttp import web

from star_ca.problems import AcmeError
from star_ca.wfe.jws import Verified
from star_ca.wfe.request import check_post
from star_operator.delegation import binding, urls

Auth = Literal["jwk", "kid", "any"]


@dataclasses.dataclass
class NdcRequest:
    """A request whose signature, nonce and url verified; ``account`` set for ``kid``."""

    verified: Verified
    account: binding.NdcAccount | None

    @property
    def post_as_get(self) -> bool:
        return self.verified.post_as_get

    def json(self) -> dict[str, Any]:
        return self.verified.json()

    def require_account(self) -> binding.NdcAccount:
        if self.account is None:
            raise AcmeError("malformed", "this resource requires a kid header")
        return self.account


async def account_for_kid(request: web.Request, kid: object) -> binding.NdcAccount:
    prefix = urls.base_url(request) + urls.ACCOUNT
    if not isinstance(kid, str) or not kid.startswith(prefix) or "/" in kid[len(prefix):]:
        raise AcmeError("accountDoesNotExist", f"kid {kid!r} is not an account URL of this "
                                               "server")
    account = await binding.find(urls.svc(request).cluster, kid[len(prefix):])
    if account is None:
        raise AcmeError("accountDoesNotExist", f"no account at {kid}")
    if account.status != "valid":
        raise AcmeError("unauthorized", f"account {kid} is {account.status}")
    return account


async def verify_request(request: web.Request, auth: Auth = "kid") -> NdcRequest:
    async def resolve(kid: object) -> tuple[jose.JWK, binding.NdcAccount]:
        account = await account_for_kid(request, kid)
        key = jose.JWK.from_json(account.jwk)
        assert isinstance(key, jose.JWK)  # from_json of the JWK class returns a JWK
        return key, account

    verified, account = await check_post(request, auth, resolve, urls.svc(request).nonces,
                                         urls.request_url(request))
    return NdcRequest(verified, account)

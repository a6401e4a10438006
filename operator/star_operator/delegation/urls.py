"""URL layout of the front end and the collaborators a request handler reaches.

``DIRECTORY``/``NEW_NONCE``/``NEW_ACCOUNT``/``NEW_ORDER``/``KEY_CHANGE``/``REVOKE_CERT`` and
``ACCOUNT`` are star-ca's paths, so star-ca's middleware (nonce + ``Link: rel="index"`` on
every answer, problem documents for every failure) serves this app unchanged. Order,
delegation and certificate URLs carry the Delegation's name: every lookup is then one GET,
with no index to keep.
"""

from __future__ import annotations

import dataclasses

from aiohttp import web

from star_ca.wfe import urls as ca_urls
from star_ca.wfe.nonces import NonceStore
from star_operator.delegation.cluster import Cluster
from star_operator.delegation.config import Config

DIRECTORY = ca_urls.DIRECTORY
NEW_NONCE = ca_urls.NEW_NONCE
NEW_ACCOUNT = ca_urls.NEW_ACCOUNT
NEW_ORDER = ca_urls.NEW_ORDER
KEY_CHANGE = ca_urls.KEY_CHANGE
REVOKE_CERT = ca_urls.REVOKE_CERT
ACCOUNT = ca_urls.ACCOUNT              # + {account id} [/delegations | /orders]
DELEGATION = "/acme/delegation/"       # + {delegation name}
ORDER = "/acme/order/"                 # + {delegation}/{order id} [/finalize]
STAR_CERT = "/acme/star/"              # + {delegation}/{order id}: emulated STAR series
CERT = "/acme/cert/"                   # + {delegation}/{order id}: ordinary certificate


@dataclasses.dataclass
class Services:
    """What handlers use; ``config.base_url`` and ``nonces`` are what star-ca's middleware
    reads from ``app[SERVICES]``."""

    config: Config
    nonces: NonceStore
    cluster: Cluster


def svc(request: web.Request) -> Services:
    services: Services = request.app[ca_urls.SERVICES]
    return services


def base_url(request: web.Request) -> str:
    return svc(request).config.base_url or f"{request.scheme}://{request.host}"


def request_url(request: web.Request) -> str:
    """The URL the client addressed, compared verbatim with the JWS ``url`` header."""
    return base_url(request) + request.path_qs


def account_url(base: str, account_id: str) -> str:
    return f"{base}{ACCOUNT}{account_id}"


def delegation_url(base: str, name: str) -> str:
    return f"{base}{DELEGATION}{name}"


def order_url(base: str, delegation: str, order_id: str) -> str:
    return f"{base}{ORDER}{delegation}/{order_id}"

"""URL layout. Paths are fixed; the scheme+authority comes from ``--base-url`` or, like
Pebble, from the request's Host header so one CA works behind any name it has a cert for."""
from __future__ import annotations

from aiohttp import web

from star_ca.services import Services

DIRECTORY = "/directory"
NEW_NONCE = "/acme/new-nonce"
NEW_ACCOUNT = "/acme/new-account"
NEW_ORDER = "/acme/new-order"
REVOKE_CERT = "/acme/revoke-cert"
KEY_CHANGE = "/acme/key-change"
ACCOUNT = "/acme/acct/"
ORDER = "/acme/order/"
AUTHZ = "/acme/authz/"
CHALLENGE = "/acme/chall/"
CERT = "/acme/cert/"
STAR_CERT = "/acme/star/"
RENEWAL_INFO = "/acme/renewal-info"  # + "/{certID}" (RFC 9773 §4)


def svc(request: web.Request) -> Services:
    services: Services = request.app["services"]
    return services


def base_url(request: web.Request) -> str:
    configured = svc(request).config.base_url
    return configured or f"{request.scheme}://{request.host}"


def request_url(request: web.Request) -> str:
    """The URL the client addressed, compared verbatim with the JWS ``url`` header."""
    return base_url(request) + request.path_qs

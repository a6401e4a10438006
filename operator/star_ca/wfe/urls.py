"""The web front end's view of the URL layout (star_ca.links): the base URL of a request
(``--base-url`` or, like Pebble, the request's Host header, so one CA works behind any name it
has a certificate for) and the Services the application was built with."""
from __future__ import annotations

from typing import Any

from aiohttp import web

from star_ca.links import (ACCOUNT, AUTHZ, CERT, CHALLENGE, DIRECTORY, KEY_CHANGE,  # noqa: F401
                           NEW_ACCOUNT, NEW_NONCE, NEW_ORDER, ORDER, RENEWAL_INFO, REVOKE_CERT,
                           STAR_CERT, Links)
from star_ca.services import Services

#: Where an application keeps its Services: star-ca's, or the delegation front end's (both
#: built by :func:`star_ca.wfe.app.acme_app`), so the key is typed Any and each ``svc`` says.
SERVICES: web.AppKey[Any] = web.AppKey("services")


def svc(request: web.Request) -> Services:
    services: Services = request.app[SERVICES]
    return services


def base_url(request: web.Request) -> str:
    configured = svc(request).config.base_url
    return configured or f"{request.scheme}://{request.host}"


def links(request: web.Request) -> Links:
    """URLs under the base this request was sent to."""
    return Links(base_url(request))


def request_url(request: web.Request) -> str:
    """The URL the client addressed, compared verbatim with the JWS ``url`` header."""
    return base_url(request) + request.path_qs

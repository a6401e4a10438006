"""The aiohttp application: routes, the directory, nonces, and the middleware that gives every
response ``Link: rel="index"`` (and every POST and newNonce answer a ``Replay-Nonce``) and turns
every failure (including aiohttp's own 404/405/413 and unexpected exceptions) into a problem
document."""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from star_ca.problems import AcmeError
from star_ca.services import Services
from star_ca.wfe import accounts, certs, orders, renewal_info, urls
from star_ca.wfe.responses import json_response, problem_response

log = logging.getLogger(__name__)
MAX_BODY = 64 * 1024
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _from_http_exception(exc: web.HTTPException) -> AcmeError:
    if exc.status == 413:
        return AcmeError("malformed", f"request body larger than {MAX_BODY} bytes", status=413)
    if exc.status == 405:
        return AcmeError("malformed", "method not allowed for this resource", status=405,
                         headers={"Allow": exc.headers.get("Allow", "")} if exc.headers else None)
    if exc.status == 404:
        return AcmeError("malformed", "no such resource", status=404)
    return AcmeError("malformed", exc.reason or "bad request", status=exc.status)


def _mints_nonce(request: web.Request) -> bool:
    """RFC 8555 §6.5 asks for a nonce on every response to a POST (errors included) and from
    newNonce. The GETs (directory, a STAR certificate, renewalInfo) are unauthenticated and
    polled: a CDN fetches each name's star-certificate URL every renewal, so a nonce minted
    there is one nobody uses, kept in the store until its bound pushes it out (about 110 bytes
    per GET: the CA's memory grew 13 MB over the hour's soak that way)."""
    return request.method == "POST" or request.match_info.handler is new_nonce


@web.middleware
async def acme_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except AcmeError as err:
        response = problem_response(err)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = problem_response(_from_http_exception(exc))
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        response = problem_response(AcmeError("serverInternal", "internal error"))
    if _mints_nonce(request):
        response.headers["Replay-Nonce"] = urls.svc(request).nonces.new()
    response.headers.add("Link", f'<{urls.base_url(request)}{urls.DIRECTORY}>;rel="index"')
    return response


async def directory(request: web.Request) -> web.Response:
    """What this CA offers: STAR (``meta.auto-renewal``), profiles (``meta.profiles``) and ARI
    (``renewalInfo``) each appear only when enabled, which is how clients detect them."""
    base, cfg = urls.base_url(request), urls.svc(request).config
    meta: dict[str, Any] = {
        "caaIdentities": list(cfg.caa_identities),
        "externalAccountRequired": False,
    }
    if cfg.star:
        meta["auto-renewal"] = {"min-lifetime": cfg.min_lifetime,
                                "max-duration": cfg.max_duration,
                                "allow-certificate-get": cfg.allow_certificate_get}
    if cfg.profiles.offered:
        meta["profiles"] = cfg.profiles.directory_meta()
    doc: dict[str, Any] = {
        "newNonce": base + urls.NEW_NONCE, "newAccount": base + urls.NEW_ACCOUNT,
        "newOrder": base + urls.NEW_ORDER, "revokeCert": base + urls.REVOKE_CERT,
        "keyChange": base + urls.KEY_CHANGE, "meta": meta}
    if cfg.ari:
        doc["renewalInfo"] = base + urls.RENEWAL_INFO
    return json_response(doc)


async def new_nonce(request: web.Request) -> web.Response:
    status = 200 if request.method == "HEAD" else 204
    return web.Response(status=status, headers={"Cache-Control": "no-store"})


def acme_app(services: Any, directory_handler: Handler) -> web.Application:
    """An application with what every ACME server here shares: the middleware, the
    directory and newNonce. ``services`` needs ``nonces`` and ``config.base_url`` (star-ca's
    :class:`Services`, or the delegation front end's)."""
    app = web.Application(middlewares=[acme_middleware], client_max_size=MAX_BODY)
    app[urls.SERVICES] = services
    r = app.router
    r.add_get(urls.DIRECTORY, directory_handler)
    r.add_route("HEAD", urls.NEW_NONCE, new_nonce)
    r.add_get(urls.NEW_NONCE, new_nonce, allow_head=False)
    return app


def make_app(services: Services) -> web.Application:
    app = acme_app(services, directory)
    r = app.router
    r.add_post(urls.NEW_ACCOUNT, accounts.new_account)
    r.add_post(urls.ACCOUNT + "{id}", accounts.account)
    r.add_post(urls.ACCOUNT + "{id}/orders", orders.orders_list)
    r.add_post(urls.KEY_CHANGE, accounts.key_change)
    r.add_post(urls.NEW_ORDER, orders.new_order)
    r.add_post(urls.ORDER + "{id}", orders.order)
    r.add_post(urls.ORDER + "{id}/finalize", orders.finalize)
    r.add_post(urls.AUTHZ + "{id}", orders.authz)
    r.add_post(urls.CHALLENGE + "{id}", orders.challenge)
    r.add_post(urls.CERT + "{id}", certs.certificate)
    r.add_post(urls.REVOKE_CERT, certs.revoke_cert)
    r.add_post(urls.STAR_CERT + "{token}", certs.star_certificate)
    r.add_get(urls.STAR_CERT + "{token}", certs.star_certificate)  # HEAD included
    if services.config.ari:
        r.add_get(urls.RENEWAL_INFO + "/{cert_id}", renewal_info.renewal_info)
    return app

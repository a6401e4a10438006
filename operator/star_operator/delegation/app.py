"""The aiohttp application: the RFC 9115 directory and routes on star-ca's ACME base
(:func:`star_ca.wfe.app.acme_app`: every answer carries ``Link: rel="index"`` and every answer
to a POST a ``Replay-Nonce``; every failure, aiohttp's own 404/405/413 and unexpected exceptions
included, becomes a problem document; newNonce)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from star_ca.wfe.app import acme_app
from star_ca.wfe.responses import json_response
from star_operator.delegation import account_routes, certs, order_routes, revocation, urls


async def directory(request: web.Request) -> web.Response:
    """``delegation-enabled`` (RFC 9115 §2.3.4), EAB required (RFC 8555 §7.3.4), and
    ``auto-renewal`` (RFC 8739 §3.2) so STAR clients know they may ask for it."""
    base, cfg = urls.base_url(request), urls.svc(request).config
    meta: dict[str, Any] = {
        "delegation-enabled": True, "externalAccountRequired": True,
        "auto-renewal": {"min-lifetime": cfg.min_lifetime, "max-duration": cfg.max_duration,
                         "allow-certificate-get": True}}
    return json_response({"newNonce": base + urls.NEW_NONCE,
                          "newAccount": base + urls.NEW_ACCOUNT,
                          "newOrder": base + urls.NEW_ORDER,
                          "revokeCert": base + urls.REVOKE_CERT,
                          "keyChange": base + urls.KEY_CHANGE, "meta": meta})


def make_app(services: urls.Services) -> web.Application:
    app = acme_app(services, directory)
    r = app.router
    r.add_post(urls.NEW_ACCOUNT, account_routes.new_account)
    r.add_post(urls.ACCOUNT + "{id}", account_routes.account)
    r.add_post(urls.KEY_CHANGE, account_routes.key_change)
    r.add_post(urls.REVOKE_CERT, revocation.revoke_cert)
    r.add_post(urls.ACCOUNT + "{id}/delegations", account_routes.delegations)
    r.add_post(urls.ACCOUNT + "{id}/orders", order_routes.orders_list)
    r.add_post(urls.DELEGATION + "{name}", account_routes.delegation)
    r.add_post(urls.NEW_ORDER, order_routes.new_order)
    r.add_post(urls.ORDER + "{delegation}/{id}", order_routes.order)
    r.add_post(urls.ORDER + "{delegation}/{id}/finalize", order_routes.finalize)
    for path, handler in ((urls.STAR_CERT, certs.star_certificate), (urls.CERT, certs.certificate)):
        r.add_get(path + "{delegation}/{id}", handler)  # HEAD included
        r.add_post(path + "{delegation}/{id}", handler)
    return app

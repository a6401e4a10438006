"""The certificate URLs the front end serves itself (RFC 8739 §3.3-3.4 semantics):

- ``star-certificate`` of an emulated series (upstream CA without STAR): the current chain from
  the StarOrder's Secret, with ``Cert-Not-Before``/``Cert-Not-After`` and cache freshness until
  the series orders its next certificate; 403 ``autoRenewalCanceled`` once canceled, 403
  ``autoRenewalExpired`` after the end-date;
- ``certificate`` of an ordinary (RFC 9115 §2.3.3) order.

Both answer an unauthenticated GET (what an NDC without a CA account needs) and POST-as-GET.
"""

from __future__ import annotations

import base64
import math
import time
from email.utils import formatdate
from typing import Any

from aiohttp import web
from cryptography import x509

from star_ca.problems import AcmeError
from star_ca.wfe.certs import PEM_CHAIN
from star_operator import constants as c
from star_operator import timeutil
from star_operator.delegation import orders, urls
from star_operator.delegation.request import verify_request


async def _star_order(request: web.Request, gone: AcmeError) -> dict[str, Any]:
    """The StarOrder behind the URL (``gone`` when there is none); POST-as-GET must come from
    its account."""
    delegation, order_id = request.match_info["delegation"], request.match_info["id"]
    star_order = await urls.svc(request).cluster.star_order(
        orders.star_order_name(delegation, order_id))
    if star_order is not None and not orders.made_for(star_order, delegation, order_id):
        star_order = None  # another StarOrder of the namespace: not the front end's to serve
    if request.method == "POST":
        v = await verify_request(request)
        if not v.post_as_get:
            raise AcmeError("malformed", "certificates are fetched with POST-as-GET")
        owner = ((star_order or {}).get("metadata", {}).get("annotations") or {}).get(
            c.NDC_ACCOUNT_ANNOTATION)
        if star_order is not None and owner != urls.account_url(urls.base_url(request),
                                                                v.require_account().id):
            raise AcmeError("unauthorized", "this order belongs to another account")
    if star_order is None:
        raise gone
    return star_order


async def _chain(request: web.Request, star_order: dict[str, Any]) -> str:
    secret = await urls.svc(request).cluster.secret(star_order["spec"]["secretName"])
    data = (secret or {}).get("data") or {}
    if not data.get(c.TLS_CRT):
        raise AcmeError("malformed", "the certificate is not issued yet", status=404,
                        headers={"Retry-After": "1"})
    return base64.b64decode(data[c.TLS_CRT]).decode()


def fresh_until(star_order: dict[str, Any], not_after: float) -> float:
    """When a cache must come back: the series' next renewal, at the latest the expiry."""
    renew = timeutil.parse_time(((star_order.get("status") or {}).get("series") or {})
                                .get("renewAt"))
    return min(renew.timestamp(), not_after) if renew else not_after


async def star_certificate(request: web.Request) -> web.Response:
    """A series whose StarOrder is gone was ended by the DNO (Delegation or order deleted):
    403 ``autoRenewalCanceled`` like a canceled one, the answer on which an RFC 8739 client
    stops, rather than a 404 it would keep retrying."""
    star_order = await _star_order(request, AcmeError(
        "autoRenewalCanceled", "no STAR order here (any more): the delegation ended"))
    if (star_order.get("status") or {}).get("mode") != c.Mode.EMULATED:
        raise AcmeError("malformed", "this order's star-certificate is at the CA", status=404)
    state = orders.state_of(star_order)
    if state.status == "canceled":
        raise AcmeError("autoRenewalCanceled", "the STAR order was canceled")
    end = timeutil.parse_time(star_order["spec"].get("endDate"))
    now = time.time()
    if end is not None and now >= end.timestamp():
        raise AcmeError("autoRenewalExpired", "the STAR order's end-date has passed")
    chain = await _chain(request, star_order)
    leaf = x509.load_pem_x509_certificate(chain.encode())
    not_before = leaf.not_valid_before_utc.timestamp()
    not_after = leaf.not_valid_after_utc.timestamp()
    max_age = max(0, math.floor(fresh_until(star_order, not_after) - now))
    return web.Response(body=chain.encode(), headers={
        "Content-Type": PEM_CHAIN,
        "Cert-Not-Before": formatdate(not_before, usegmt=True),
        "Cert-Not-After": formatdate(not_after, usegmt=True),
        "Cache-Control": f"public, max-age={max_age}"})


async def certificate(request: web.Request) -> web.Response:
    star_order = await _star_order(request, AcmeError("malformed", "no such certificate",
                                                      status=404))
    if orders.state_of(star_order).certificate != "served" \
            or star_order["spec"].get("star") is not False:
        raise AcmeError("malformed", "no such certificate", status=404)
    return web.Response(body=(await _chain(request, star_order)).encode(),
                        headers={"Content-Type": PEM_CHAIN})

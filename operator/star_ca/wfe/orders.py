"""Orders, authorizations, challenges and finalize (RFC 8555 §7.4-7.5), with the RFC 8739
additions (``auto-renewal`` in newOrder, cancellation by POST to the order URL), ACME profiles
(``profile``) and RFC 9773 ``replaces``."""
from __future__ import annotations

import secrets
import time
from typing import Any, TypeVar

import josepy as jose
from aiohttp import web

from star_ca.ca.csr import CsrError, check_csr
from star_ca.db import Account, Authz, Challenge, Order
from star_ca.issuance import complete_order
from star_ca.lifecycle import ORDER_TTL, new_id, refresh_order
from star_ca.problems import AcmeError
from star_ca.profiles import ProfileError
from star_ca.services import Services
from star_ca.star.autorenewal import AutoRenewalError, Limits, parse_auto_renewal
from star_ca.wfe import urls
from star_ca.wfe.identifiers import parse_identifiers
from star_ca.wfe.renewal_info import replaced_certificate
from star_ca.wfe.render import authz_json, challenge_json, order_json
from star_ca.wfe.request import require_account, verify_request
from star_ca.wfe.responses import json_response

RETRY_AFTER = "1"
VALIDATION_WAIT = 2.0  # seconds a challenge POST waits for its check (va.runner)
T = TypeVar("T", Order, Authz)


def _order_response(request: web.Request, order: Order, authzs: list[Authz],
                    status: int = 200) -> web.Response:
    links = urls.links(request)
    headers = {"Location": links.order(order.id)}
    if order.status in ("pending", "processing"):
        headers["Retry-After"] = RETRY_AFTER
    return json_response(order_json(links, order, authzs), status, headers)


def _owned(obj: T | None, acc: Account, what: str) -> T:
    """``obj`` if it exists and belongs to ``acc``: 404, or 403 for another account's."""
    if obj is None:
        raise AcmeError("malformed", f"no such {what}", status=404)
    if obj.account_id != acc.id:
        raise AcmeError("unauthorized", f"this {what} belongs to another account")
    return obj


async def _owned_order(request: web.Request, acc: Account, order_id: str
                       ) -> tuple[Order, list[Authz]]:
    """The account's order, brought up to date, with its authorizations (one query)."""
    store = urls.svc(request).store
    order, authzs = await store.order_with_authzs(order_id) or (None, [])
    return await refresh_order(store, _owned(order, acc, "order"), authzs=authzs), authzs


async def _owned_authz(request: web.Request, acc: Account, authz_id: str) -> Authz:
    return _owned(await urls.svc(request).store.authz(authz_id), acc, "authorization")


def _auto_renewal(s: Services, payload: dict[str, Any], now: float) -> dict[str, Any] | None:
    """The echoed auto-renewal object, or None for an ordinary order. With STAR off the
    field is unknown to the CA and ignored, as an RFC 8555 CA would."""
    dated = "notBefore" in payload or "notAfter" in payload
    if not s.config.star or "auto-renewal" not in payload:
        if dated:
            raise AcmeError("malformed", "this CA does not support notBefore/notAfter in orders")
        return None
    if dated:
        raise AcmeError("malformed", "notBefore/notAfter must not be combined with "
                                     "auto-renewal (RFC 8739 §3.1.1)")
    cfg = s.config
    limits = Limits(cfg.min_lifetime, cfg.max_duration, cfg.lifetime_adjust,
                    cfg.allow_certificate_get)
    try:
        return parse_auto_renewal(payload["auto-renewal"], limits, now)
    except AutoRenewalError as exc:
        raise AcmeError("malformed", str(exc)) from None


def _profile(s: Services, payload: dict[str, Any]) -> str | None:
    """The profile the order gets (draft-ietf-acme-profiles): named, or the default."""
    requested = payload.get("profile")
    if requested is not None and not isinstance(requested, str):
        raise AcmeError("malformed", "profile must be a string")
    try:
        return s.config.profiles.choose(requested)
    except ProfileError as exc:
        raise AcmeError("invalidProfile", str(exc)) from None


async def new_order(request: web.Request) -> web.Response:
    v = await verify_request(request)
    acc = require_account(v)
    payload = v.json()
    s = urls.svc(request)
    identifiers = parse_identifiers(payload.get("identifiers"))
    now = time.time()
    auto_renewal = _auto_renewal(s, payload, now)
    profile = _profile(s, payload)
    order = Order(new_id(), acc.id, "pending", now + ORDER_TTL, identifiers, None, None,
                  urls.base_url(request), auto_renewal, None, profile)
    if s.config.ari and "replaces" in payload:  # without ARI the field is unknown: ignored
        order.replaces, replaced = await replaced_certificate(s, acc, payload["replaces"],
                                                              identifiers)
        order.replaces_cert = replaced.id
    authzs, challenges = [], []
    for ident in identifiers:
        wildcard = ident.startswith("*.")
        authz = Authz(new_id(), acc.id, order.id, ident.removeprefix("*."), wildcard, "pending",
                      order.expires, None)
        authzs.append(authz)
        for kind in (("dns-01",) if wildcard else ("http-01", "dns-01")):
            challenges.append(Challenge(new_id(), authz.id, kind, secrets.token_urlsafe(32),
                                        "pending", None, None))
    await s.store.create_order(order, authzs, challenges, now)
    return _order_response(request, order, authzs, 201)


async def order(request: web.Request) -> web.Response:
    v = await verify_request(request)
    acc = require_account(v)
    o, authzs = await _owned_order(request, acc, request.match_info["id"])
    if v.post_as_get:
        return _order_response(request, o, authzs)
    payload = v.json()
    if payload.get("status") != "canceled":
        raise AcmeError("malformed", 'the only order update is {"status": "canceled"}')
    if o.auto_renewal is None or o.status != "valid":
        raise AcmeError("autoRenewalCancellationInvalid",
                        f"only a valid STAR order can be canceled; this one is "
                        f"{o.status}{'' if o.auto_renewal else ' and not STAR'}")
    o.status, o.expires = "canceled", time.time()
    await urls.svc(request).store.stop_series(o)
    urls.svc(request).star_cache.invalidate(o.star_token)
    return _order_response(request, o, authzs)


async def finalize(request: web.Request) -> web.Response:
    v = await verify_request(request)
    acc = require_account(v)
    s = urls.svc(request)
    o, authzs = await _owned_order(request, acc, request.match_info["id"])
    if o.status != "ready":
        raise AcmeError("orderNotReady", f"order is {o.status}, not ready")
    csr_b64 = v.json().get("csr")
    try:
        csr_der = jose.decode_b64jose(csr_b64) if isinstance(csr_b64, str) else b""
        csr = check_csr(csr_der, o.identifiers)
    except (CsrError, jose.DeserializationError) as exc:
        raise AcmeError("badCSR", str(exc)) from None
    if not await s.store.begin_processing(o, csr_der, time.time()):  # CSR kept for recovery
        raise AcmeError("orderNotReady", "order is already being finalized")
    await complete_order(s, o, authzs, csr, csr_der)
    return _order_response(request, o, authzs)


async def authz(request: web.Request) -> web.Response:
    v = await verify_request(request)
    acc = require_account(v)
    s = urls.svc(request)
    a, challenges = await s.store.authz_with_challenges(request.match_info["id"]) or (None, [])
    a = _owned(a, acc, "authorization")
    if not v.post_as_get:
        if v.json().get("status") != "deactivated":
            raise AcmeError("malformed", 'the only authorization update is '
                                         '{"status": "deactivated"}')
        if a.status not in ("pending", "valid"):
            raise AcmeError("malformed", f"authorization is {a.status}")
        a.status = "deactivated"
        await s.store.save_authz(a)
    return json_response(authz_json(urls.links(request), a, challenges))


async def challenge(request: web.Request) -> web.Response:
    v = await verify_request(request)
    acc = require_account(v)
    s = urls.svc(request)
    ch = await s.store.challenge(request.match_info["id"])
    if ch is None:
        raise AcmeError("malformed", "no such challenge", status=404)
    a = await _owned_authz(request, acc, ch.authz_id)
    if not v.post_as_get:
        v.json()  # RFC 8555 §7.5.1: the response is {} (any object is accepted)
        if ch.status == "pending" and a.status == "pending":
            ch.status = "processing"
            await s.store.save_validation(ch, a, None)
            ch = await s.validator.outcome_within(ch, VALIDATION_WAIT)
    links = urls.links(request)
    headers = {"Link": f'<{links.authz(a.id)}>;rel="up"'}
    if ch.status == "processing":
        headers["Retry-After"] = RETRY_AFTER
    return json_response(challenge_json(links, ch), 200, headers)


async def orders_list(request: web.Request) -> web.Response:
    v = await verify_request(request)
    acc = require_account(v)
    if acc.id != request.match_info["id"]:
        raise AcmeError("unauthorized", "accounts can only list their own orders")
    if not v.post_as_get:
        raise AcmeError("malformed", "the orders list is read with POST-as-GET")
    links = urls.links(request)
    ids = await urls.svc(request).store.orders_of(acc.id)
    return json_response({"orders": [links.order(i) for i in ids]})

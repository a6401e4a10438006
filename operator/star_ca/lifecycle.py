"""Object identifiers and the order/authorization state machine (RFC 8555 §7.1.6).

Status is recomputed lazily when an object is read (expiry, all authorizations valid) instead
of by background sweeps, so a restarted CA needs no catch-up for these transitions.
"""
from __future__ import annotations

import secrets
import time

from star_ca.db import Authz, Order, Store
from star_ca.problems import problem

ORDER_TTL = 7 * 86400


def new_id() -> str:
    """128 random bits, URL-safe: every object URL is unguessable (capability URLs)."""
    return secrets.token_urlsafe(16)


def advance(order: Order, authzs: list[Authz], now: float | None = None) -> bool:
    """Move a pending order to ready (all authorizations valid) or invalid (expired or an
    authorization failed); True when it changed and the caller has to persist it (in the same
    transaction as whatever changed the authorizations, when it can)."""
    if order.status != "pending":
        return False
    now = time.time() if now is None else now
    if now > order.expires:
        order.status = "invalid"
        order.error = problem("malformed", "order expired before it was finalized")
    elif any(a.status in ("invalid", "deactivated", "revoked") for a in authzs):
        order.status = "invalid"
        order.error = order.error or problem("unauthorized", "an authorization failed")
    elif all(a.status == "valid" for a in authzs):
        order.status = "ready"
    else:
        return False
    return True


async def refresh_order(store: Store, order: Order, now: float | None = None,
                  authzs: list[Authz] | None = None) -> Order:
    """``advance``, persisted; ``authzs`` when the caller has already read them."""
    if order.status != "pending":
        return order
    if advance(order, await store.authzs_of(order.id) if authzs is None else authzs, now):
        await store.save_order(order)
    return order


def authz_status(authz: Authz, now: float | None = None) -> str:
    now = time.time() if now is None else now
    if authz.status in ("pending", "valid") and now > authz.expires:
        return "expired"
    return authz.status

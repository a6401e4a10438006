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


def refresh_order(store: Store, order: Order, now: float | None = None) -> Order:
    """Advance a pending order to ready (all authorizations valid) or invalid (expired or an
    authorization failed), persisting the change."""
    if order.status != "pending":
        return order
    now = time.time() if now is None else now
    authzs = store.authzs_of(order.id)
    if now > order.expires:
        order.status = "invalid"
        order.error = problem("malformed", "order expired before it was finalized")
    elif any(a.status in ("invalid", "deactivated", "revoked") for a in authzs):
        order.status = "invalid"
        order.error = order.error or problem("unauthorized", "an authorization failed")
    elif all(a.status == "valid" for a in authzs):
        order.status = "ready"
    else:
        return order
    store.save_order(order)
    return order


def authz_status(authz: Authz, now: float | None = None) -> str:
    now = time.time() if now is None else now
    if authz.status in ("pending", "valid") and now > authz.expires:
        return "expired"
    return authz.status

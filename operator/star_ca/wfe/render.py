"""JSON representations of ACME resources (RFC 8555 §7.1, RFC 8739 §3.1, with the order's
``profile`` and RFC 9773 ``replaces``)."""
from __future__ import annotations

from typing import Any

from star_ca.db import Account, Authz, Challenge, Order, Store
from star_ca.lifecycle import authz_status
from star_ca.star.autorenewal import rfc3339
from star_ca.wfe import urls


def account_json(base: str, acc: Account) -> dict[str, Any]:
    return {"status": acc.status, "contact": acc.contact, "key": acc.jwk,
            "termsOfServiceAgreed": acc.tos,
            "orders": f"{base}{urls.ACCOUNT}{acc.id}/orders"}


def order_json(base: str, store: Store, order: Order) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "status": order.status,
        "expires": rfc3339(order.expires),
        "identifiers": [{"type": "dns", "value": v} for v in order.identifiers],
        "authorizations": [f"{base}{urls.AUTHZ}{a.id}" for a in store.authzs_of(order.id)],
        "finalize": f"{base}{urls.ORDER}{order.id}/finalize",
    }
    if order.error:
        doc["error"] = order.error
    if order.profile is not None:
        doc["profile"] = order.profile
    if order.replaces is not None:
        doc["replaces"] = order.replaces
    if order.auto_renewal is not None:
        doc["auto-renewal"] = order.auto_renewal
        if order.star_token:
            doc["star-certificate"] = f"{base}{urls.STAR_CERT}{order.star_token}"
    elif order.cert_id:
        doc["certificate"] = f"{base}{urls.CERT}{order.cert_id}"
    return doc


def challenge_json(base: str, ch: Challenge) -> dict[str, Any]:
    doc: dict[str, Any] = {"type": ch.type, "url": f"{base}{urls.CHALLENGE}{ch.id}",
                           "token": ch.token, "status": ch.status}
    if ch.validated is not None and ch.status == "valid":
        doc["validated"] = rfc3339(ch.validated)
    if ch.error:
        doc["error"] = ch.error
    return doc


def authz_json(base: str, store: Store, authz: Authz) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "identifier": {"type": "dns", "value": authz.identifier.removeprefix("*.")},
        "status": authz_status(authz), "expires": rfc3339(authz.expires),
        "challenges": [challenge_json(base, c) for c in store.challenges_of(authz.id)],
    }
    if authz.wildcard:
        doc["wildcard"] = True
    return doc

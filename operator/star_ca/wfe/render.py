"""JSON representations of ACME resources (RFC 8555 §7.1, RFC 8739 §3.1, with the order's
``profile`` and RFC 9773 ``replaces``). Pure: the handlers read each object once, with what
it names (Store.order_with_authzs, Store.authz_with_challenges), and pass it in."""
from __future__ import annotations

from typing import Any

from star_ca.db import Account, Authz, Challenge, Order
from star_ca.lifecycle import authz_status
from star_ca.links import Links
from star_ca.star.autorenewal import rfc3339


def account_json(links: Links, acc: Account) -> dict[str, Any]:
    return {"status": acc.status, "contact": acc.contact, "key": acc.jwk,
            "termsOfServiceAgreed": acc.tos, "orders": links.account_orders(acc.id)}


def order_json(links: Links, order: Order, authzs: list[Authz]) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "status": order.status,
        "expires": rfc3339(order.expires),
        "identifiers": [{"type": "dns", "value": v} for v in order.identifiers],
        "authorizations": [links.authz(a.id) for a in authzs],
        "finalize": links.finalize(order.id),
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
            doc["star-certificate"] = links.star_cert(order.star_token)
    elif order.cert_id:
        doc["certificate"] = links.cert(order.cert_id)
    return doc


def challenge_json(links: Links, ch: Challenge) -> dict[str, Any]:
    doc: dict[str, Any] = {"type": ch.type, "url": links.challenge(ch.id), "token": ch.token,
                           "status": ch.status}
    if ch.validated is not None and ch.status == "valid":
        doc["validated"] = rfc3339(ch.validated)
    if ch.error:
        doc["error"] = ch.error
    return doc


def authz_json(links: Links, authz: Authz, challenges: list[Challenge]) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "identifier": {"type": "dns", "value": authz.identifier.removeprefix("*.")},
        "status": authz_status(authz), "expires": rfc3339(authz.expires),
        "challenges": [challenge_json(links, c) for c in challenges],
    }
    if authz.wildcard:
        doc["wildcard"] = True
    return doc

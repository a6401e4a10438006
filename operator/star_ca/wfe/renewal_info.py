"""ACME Renewal Information (RFC 9773): the unauthenticated renewalInfo resource, and the
``replaces`` check of newOrder, both of which start from a certID naming one of this CA's
certificates."""
from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from star_ca.ari import CertIdError, cert_id, parse_cert_id, retry_after, suggested_window
from star_ca.db import Account, CertRow
from star_ca.lifecycle import refresh_order
from star_ca.links import Links
from star_ca.problems import AcmeError
from star_ca.services import Services
from star_ca.star.autorenewal import rfc3339
from star_ca.wfe import urls
from star_ca.wfe.responses import json_response


async def find_certificate(s: Services, text: str) -> CertRow | None:
    """The certificate a certID names, None when this CA issued none by that name;
    AcmeError ``malformed`` when the certID cannot be parsed."""
    try:
        key_identifier, serial = parse_cert_id(text)
    except CertIdError as exc:
        raise AcmeError("malformed", f"certID {text!r}: {exc}") from None
    if key_identifier != s.issuer.key_identifier:
        return None
    return await s.store.cert_by_serial(format(serial, "x"))


async def renewal_info(request: web.Request) -> web.Response:
    s = urls.svc(request)
    cert = await find_certificate(s, request.match_info["cert_id"])
    if cert is None:
        raise AcmeError("malformed", "this CA issued no certificate with that certID",
                        status=404)
    w = suggested_window(cert.not_before, cert.not_after, cert.revoked_reason is not None,
                         time.time())
    return json_response(
        {"suggestedWindow": {"start": rfc3339(w.start), "end": rfc3339(w.end)}},
        headers={"Retry-After": str(retry_after(cert.not_before, cert.not_after))})


async def replaced_certificate(s: Services, acc: Account, raw: Any,
                         identifiers: list[str]) -> tuple[str, CertRow]:
    """(canonical certID, certificate) of a newOrder's ``replaces`` (RFC 9773 §5): a
    certificate of this account sharing an identifier with the order (else ``malformed``)
    that no other order still alive replaces (else 409 ``alreadyReplaced``). The caller
    creates the order right after, with no await on SQLite, so no second order can slip in
    between; replicas on one PostgreSQL database could each accept one such order in the same
    few milliseconds (two renewals of one certificate, no wrong one)."""
    if not isinstance(raw, str):
        raise AcmeError("malformed", "replaces must be a certID string")
    cert = await find_certificate(s, raw)
    if cert is None or cert.account_id != acc.id:
        raise AcmeError("malformed", "replaces names no certificate this account holds")
    original = await s.store.order(cert.order_id)
    if original is None or not set(original.identifiers) & set(identifiers):
        raise AcmeError("malformed", "the order shares no identifier with the certificate it "
                                     "replaces")
    for other in await s.store.orders_replacing(cert.id):
        if (await refresh_order(s.store, other)).status != "invalid":
            raise AcmeError("alreadyReplaced", "the certificate is already replaced by order "
                            f"{Links(other.base_url).order(other.id)}")
    return cert_id(s.issuer.key_identifier, int(cert.serial, 16)), cert

"""Ending an emulated series on deletion: no order after this, and what is out gets revoked.

A native STAR order is cancelled and its last certificate dies within one short lifetime. A
public CA's certificate may live days or months, so "delete it and the delegation ends" needs
revocation (reason cessationOfOperation, RFC 5280 §5.3.1) unless the StarOrder opts out with
``revokeOnDelete: false``. Superseded certificates that have not expired are revoked too: their
keys may have been copied by whoever held them. An order of a renewal that was in flight is
looked at too: if it was finalized, its certificate is revoked as well; if not, it never will be
(the daemon has stopped).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cryptography import x509

from star_operator import acme, metrics, timeutil
from star_operator import constants as c

#: RFC 5280 CRLReason cessationOfOperation: the delegation ended, nothing was compromised.
CESSATION_OF_OPERATION = 5
#: The reason codes RFC 5280 §5.3.1 defines (7 is unused).
REASONS = frozenset({0, 1, 2, 3, 4, 5, 6, 8, 9, 10})


def revoke_on_delete(spec: Mapping[str, Any]) -> bool:
    return spec.get("revokeOnDelete") is not False


def requested_reason(body: Mapping[str, Any]) -> int | None:
    """The reason of a revocation the NDC asked the front end for (its annotation), or None."""
    text = ((body.get("metadata") or {}).get("annotations") or {}).get(
        c.REVOCATION_REASON_ANNOTATION)
    try:
        reason = int(text) if text is not None else None
    except ValueError:
        return None
    return reason if reason in REASONS else None


async def _issued_by(client: acme.AcmeClient, order_url: str) -> str | None:
    """The certificate URL of an order, waiting out a finalize in flight."""
    order = await client.get_order(order_url)
    if order.status == "processing":
        order = await client.wait_order(order_url)
    return order.certificate if order.status == "valid" else None


async def revoke_series(client: acme.AcmeClient, series: Mapping[str, Any],
                        reason: int = CESSATION_OF_OPERATION) -> list[str]:
    """Revoke every unexpired certificate of the series (``series.outstanding``: the current
    one and superseded ones still valid) and any finalized successor; returns the serials.

    ``alreadyRevoked`` counts as done: a retry after a lost answer, or the DNO revoking by hand.
    """
    now = timeutil.utcnow()
    urls = [e.get("url") for e in series.get("outstanding") or ()
            if (timeutil.parse_time(e.get("notAfter")) or now) > now] or [
        series.get("certificateURL")]
    pending = (series.get("next") or {}).get("orderURL")
    if pending and pending != series.get("orderURL"):
        urls.append(await _issued_by(client, pending))
    revoked = []
    for url in filter(None, urls):
        chain = await client.download_certificate(url)
        try:
            with metrics.time_acme("revoke"):
                await client.revoke(chain, reason=reason)
        except acme.AcmeProblem as problem:
            if problem.short_type != "alreadyRevoked":
                raise
        revoked.append(format(x509.load_pem_x509_certificate(chain.encode()).serial_number,
                              "x"))
    return revoked

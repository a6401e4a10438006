"""Adopt a STAR order the CA created but the StarOrder never recorded.

The one unrecorded window of issuance is between the CA's answer to newOrder and the status
PATCH of ``orderURL``: a crash (or a lost HTTP response) there leaves an order at the CA that
nothing in the cluster knows. The marker for "an order may exist" is the phase ``KeyStaged``
found on entry: it is recorded right before newOrder, so a reconcile that *starts* in
``KeyStaged`` without ``orderURL`` may follow such a loss. It then reads the account's orders
list (RFC 8555 §7.1.2.1) and adopts an order for exactly the same request instead of placing a
second one.

"Exactly the same request" means the same identifiers and the same ``auto-renewal`` end-date,
lifetime and start-date. The end-date was fixed to the second and recorded at ``KeyStaged``,
so another StarOrder only matches if it asks for the same names with the same dates staged in
the same second; that order would then be shared, which is harmless to the CA and documented.
"""

from __future__ import annotations

from star_operator import acme
from star_operator.acme.models import parse_rfc3339
from star_operator.ordering.request import OrderRequest

#: How many of the newest orders of the account to examine (each is one POST-as-GET).
SCAN_LIMIT = 50
#: Orders in these states will never issue; a new order is placed instead.
DEAD = frozenset({"invalid", "canceled"})


def same_request(order: acme.Order, req: OrderRequest) -> bool:
    """Whether ``order`` is what newOrder for ``req`` would have created."""
    ar = order.auto_renewal or {}
    if order.status in DEAD or not ar:
        return False
    if sorted(n.lower() for n in order.names) != sorted(n.lower() for n in req.names):
        return False
    if parse_rfc3339(ar.get("end-date")) != req.end_date:
        return False
    if int(ar.get("lifetime") or 0) != int(req.lifetime):
        return False
    start = parse_rfc3339(ar.get("start-date"))
    return req.start_date is None or start == req.start_date


async def find_unrecorded_order(client: acme.AcmeClient, req: OrderRequest,
                                limit: int = SCAN_LIMIT) -> acme.Order | None:
    """The newest live order of this account matching ``req``, or None.

    Examines the last ``limit`` entries of the list (star-ca lists oldest first; an order
    lost to a crash is among the newest unless many were placed after it).
    """
    urls = await client.list_orders()
    for url in reversed(urls[-limit:]):
        order = await client.get_order(url)
        if same_request(order, req):
            return order
    return None

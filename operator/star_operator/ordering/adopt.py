"""Adopt a STAR order the CA created but the StarOrder never recorded.

The one unrecorded window of issuance is between the CA's answer to newOrder and the status
PATCH of ``orderURL``: a crash (or a lost HTTP response) there leaves an order at the CA that
nothing in the cluster knows. The marker for "an order may exist" is ``status.newOrderAt``,
recorded right before newOrder is sent and cleared with the ``orderURL`` PATCH: a reconcile
that finds it without ``orderURL`` may follow such a loss (a failure before newOrder was sent,
say the CA unreachable while registering, leaves no marker and adopts nothing). It then reads
the account's orders list (RFC 8555 §7.1.2.1) and adopts an order for exactly the same request
instead of placing a second one.

One StarOrder must never adopt another's order (the account is the CsrTemplate's, shared by
every StarOrder using it, and a StarOrder can ask for another's names and end-date on purpose).
What this StarOrder could have placed and not recorded is:

- the same request: the same identifiers and ``auto-renewal`` end-date, lifetime, start-date;
- not finalized: finalize is only ever sent for a recorded order, so an order that is
  ``processing`` or ``valid`` (bound to someone's key) is never ours to adopt;
- the only one: two unrecorded orders for the same request cannot be told apart, so neither
  is adopted and a new order is placed (the others were never finalized and expire unused).

Left open: another StarOrder's order in the moment between its newOrder answer and its own
``orderURL`` PATCH, when this StarOrder's own lost newOrder never reached the CA.
"""

from __future__ import annotations

from star_operator import acme
from star_operator.timeutil import parse_time_or_none
from star_operator.ordering.request import OrderRequest

#: How many of the newest orders of the account to examine (each is one POST-as-GET).
SCAN_LIMIT = 50
#: The states of an order nobody has finalized yet: the only ones an unrecorded order of this
#: StarOrder can be in (others are dead, or bound to a key by someone's finalize).
UNFINALIZED = frozenset({"pending", "ready"})


def same_request(order: acme.Order, req: OrderRequest) -> bool:
    """Whether ``order`` is what newOrder for ``req`` would have created, not finalized since."""
    ar = order.auto_renewal or {}
    if order.status not in UNFINALIZED or not ar:
        return False
    if sorted(n.lower() for n in order.names) != sorted(n.lower() for n in req.names):
        return False
    if parse_time_or_none(ar.get("end-date")) != req.end_date:
        return False
    if int(ar.get("lifetime") or 0) != int(req.lifetime):
        return False
    start = parse_time_or_none(ar.get("start-date"))
    return req.start_date is None or start == req.start_date


async def find_unrecorded_order(client: acme.AcmeClient, req: OrderRequest,
                                limit: int = SCAN_LIMIT) -> acme.Order | None:
    """The one unfinalized order of this account matching ``req``, or None (none, or more
    than one: see the module docstring).

    Examines the last ``limit`` entries of the list (star-ca lists oldest first; an order
    lost to a crash is among the newest unless many were placed after it).
    """
    urls = await client.list_orders()
    found = [order for order in [await client.get_order(url) for url in urls[-limit:]]
             if same_request(order, req)]
    return found[0] if len(found) == 1 else None

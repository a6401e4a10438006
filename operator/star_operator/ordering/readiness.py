"""A valid StarOrder is Ready only while its StarCertificate keeps the Secret usable.

The CA side of a StarOrder can be fine (order valid) while the cluster side is not: the Secret
may be immutable, RBAC may lack ``update``, the key may be gone. Users (and ``kubectl wait``)
read the StarOrder, so its Ready condition follows the owned StarCertificate's Ready once the
order is valid. Two writers keep it so: the StarOrder handler (when it resumes an order) and
the StarCertificate loop (whenever its own Ready changes); both use :func:`order_ready` so
they always agree. A StarCertificate the handler has just created also makes its StarOrder
``Valid`` with its first Ready (:class:`Promotion`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from star_operator import conditions, k8s, metrics, reporting
from star_operator import constants as c
from star_operator.events import EventPoster
from star_operator.ordering.status import StatusOps

ISSUED = "Issued"
WAITING = "WaitingForCertificate"


def order_ready(order_name: str, secret_name: str,
                cert_ready: Mapping[str, Any] | None) -> tuple[bool, str, str]:
    """(ready, reason, message) of a valid StarOrder given its StarCertificate's Ready."""
    if cert_ready is None:
        return False, WAITING, (f"STAR order valid; StarCertificate {order_name} has not written "
                                f"a certificate into Secret {secret_name} yet")
    if cert_ready.get("status") == conditions.TRUE:
        return True, ISSUED, (f"STAR order valid; StarCertificate {order_name} keeps Secret "
                              f"{secret_name} current")
    return False, str(cert_ready.get("reason") or "CertificateNotReady"), (
        f"StarCertificate {order_name}: {cert_ready.get('message') or 'not ready'}")


def certificate_ready(cert: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The Ready condition of a StarCertificate object, if it has one."""
    return conditions.get_condition(((cert or {}).get("status") or {}).get("conditions"),
                                    conditions.READY)


@dataclasses.dataclass(frozen=True)
class Promotion:
    """What a new StarCertificate's first Ready writes to make its ``Ordered`` StarOrder
    ``Valid``: the phase, the order's state, the star-certificate URL and the certificate's
    name, with Ready, in one JSON Patch whose ``test`` op on the phase keeps it atomic (a
    StarOrder canceled, failed or ordered again meanwhile is left alone).

    Why not the StarOrder handler: it would write ``Valid`` (with a Ready saying "waiting for
    the certificate") before creating the StarCertificate, so that the certificate's Ready could
    never be overwritten by it; that was one status write per new order, of about twelve."""

    star_certificate_url: str
    certificate_name: str

    def ops(self) -> list[dict[str, Any]]:
        return [{"op": "test", "path": "/status/phase", "value": c.Phase.ORDERED},
                {"op": "replace", "path": "/status/phase", "value": c.Phase.VALID},
                {"op": "add", "path": "/status/orderState", "value": "valid"},
                {"op": "add", "path": "/status/starCertificateURL",
                 "value": self.star_certificate_url},
                {"op": "add", "path": "/status/certificateName", "value": self.certificate_name},
                # an error of an earlier attempt is over (null: the API server drops the field)
                {"op": "add", "path": "/status/lastError", "value": None}]


_VALID = [{"op": "test", "path": "/status/phase", "value": c.Phase.VALID}]
#: Ready computed for the generation the StarOrder handler last recorded (every write of its
#: status records it): without it, the handler's next look at the StarOrder (each resume, so
#: every operator restart) found its Ready differing and wrote it again, with a second Issued.
_OBSERVED_GENERATION = [{"op": "copy", "from": "/status/observedGeneration",
                         "path": "/status/conditions/0/observedGeneration"}]


async def mirror_to_order(namespace: str, order_name: str, secret_name: str,
                          cert_ready: Mapping[str, Any], post_event: EventPoster, *,
                          promotion: Promotion | None = None, promote_first: bool = False,
                          patch_ops: StatusOps = k8s.json_patch_status) -> bool:
    """Copy a StarCertificate's Ready onto its owner StarOrder if that is ``Valid`` (or, with
    ``promotion``, make an ``Ordered`` one ``Valid`` with it).

    One JSON Patch whose ``test`` op makes the phase check atomic, and no read: the operator's
    RBAC has no ``get`` on StarOrders (list+watch is kopf's), and a read would cost a call per
    change at 1,000 orders. A StarOrder's conditions hold only Ready, so the list is replaced,
    its ``observedGeneration`` the StarOrder's own.
    ``promote_first``: try the promotion before the plain copy (a new StarCertificate's first
    Ready); the other is tried when the first's test fails. Returns False when the StarOrder is
    in neither phase; other API errors raise. ``patch_ops`` is the API server's status JSON
    Patch (a fake in unit tests).
    """
    ready, reason, message = order_ready(order_name, secret_name, cert_ready)
    variants = [_VALID] if promotion is None else (
        [promotion.ops(), _VALID] if promote_first else [_VALID, promotion.ops()])

    async def write(patch: dict[str, Any]) -> bool:
        for ops in variants:
            try:
                await patch_ops(c.STARORDER_PLURAL, namespace, order_name, [
                    *ops, {"op": "add", "path": "/status/conditions", "value": patch["conditions"]},
                    *_OBSERVED_GENERATION])
            except k8s.NotFound:
                return False
            except k8s.ApiError as exc:
                if exc.status == 422:  # the test op failed: not in this variant's phase
                    continue
                raise
            if ops is not _VALID:
                metrics.set_order_phase(namespace, order_name, c.Phase.VALID)
            return True
        return False

    return await reporting.report(None, ready, reason, message, generation=None, write=write,
                                  post_event=post_event,
                                  event="Normal" if ready else "Warning")

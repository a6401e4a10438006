"""A valid StarOrder is Ready only while its StarCertificate keeps the Secret usable.

The CA side of a StarOrder can be fine (order valid) while the cluster side is not: the Secret
may be immutable, RBAC may lack ``update``, the key may be gone. Users (and ``kubectl wait``)
read the StarOrder, so its Ready condition follows the owned StarCertificate's Ready once the
order is valid. Two writers keep it so: the StarOrder handler (when it settles or resumes an
order) and the StarCertificate loop (whenever its own Ready changes); both use
:func:`order_ready` so they always agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from star_operator import conditions, k8s, reporting
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


async def mirror_to_order(namespace: str, order_name: str, secret_name: str,
                          cert_ready: Mapping[str, Any], post_event: EventPoster, *,
                          patch_ops: StatusOps = k8s.json_patch_status) -> bool:
    """Copy a StarCertificate's Ready onto its owner StarOrder if that is ``Valid``.

    One JSON Patch whose ``test`` op makes the phase check atomic, and no read: the operator's
    RBAC has no ``get`` on StarOrders (list+watch is kopf's), and a read would cost a call per
    change at 1,000 orders. A StarOrder's conditions hold only Ready, so the list is replaced.
    Returns False when the StarOrder is not (or no longer) ``Valid``; other API errors raise.
    ``patch_ops`` is the API server's status JSON Patch (a fake in unit tests).
    """
    ready, reason, message = order_ready(order_name, secret_name, cert_ready)

    async def write(patch: dict[str, Any]) -> bool:
        ops = [{"op": "test", "path": "/status/phase", "value": c.Phase.VALID},
               {"op": "add", "path": "/status/conditions", "value": patch["conditions"]}]
        try:
            await patch_ops(c.STARORDER_PLURAL, namespace, order_name, ops)
        except k8s.NotFound:
            return False
        except k8s.ApiError as exc:
            if exc.status == 422:  # the test op failed: ordering, canceling or failed
                return False
            raise
        return True

    return await reporting.report(None, ready, reason, message, generation=None, write=write,
                                  post_event=post_event,
                                  event="Normal" if ready else "Warning")

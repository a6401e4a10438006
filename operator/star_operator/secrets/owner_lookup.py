"""The production :data:`~star_operator.secrets.ownership.OwnerLookup`: asks the API server
whether the recorded owner of a Secret still exists, by UID.

StarOrders are looked up by a ``list`` with a name field selector (the operator's RBAC has list
and watch on them, and no ``get``); StarCertificates by ``get``. Only called when a Secret's
recorded owner is not the writer, so steady renewals cost no extra call.
"""

from __future__ import annotations

from typing import Any

from star_operator import k8s
from star_operator import constants as c
from star_operator.secrets.ownership import Owner

PLURALS = {c.STARORDER_KIND: c.STARORDER_PLURAL, c.STARCERTIFICATE_KIND: c.STARCERTIFICATE_PLURAL}


def _matches(obj: Any, owner: Owner) -> bool:
    uid = ((obj or {}).get("metadata") or {}).get("uid")
    return bool(obj) and (not owner.uid or uid == owner.uid)


async def exists(owner: Owner) -> bool:
    """Whether the object ``owner`` names exists with that UID (any UID for a legacy record
    without one). An unknown kind counts as existing: never take over what we cannot check."""
    plural = PLURALS.get(owner.kind)
    if plural is None:
        return True
    if plural == c.STARCERTIFICATE_PLURAL:
        return _matches(await k8s.get_object(plural, owner.namespace, owner.name), owner)
    answer = await k8s.client().request(
        "GET", k8s.custom_path(plural, owner.namespace),
        params={"fieldSelector": f"metadata.name={owner.name}"})
    return any(_matches(item, owner) for item in (answer or {}).get("items") or ())

"""Delegation: report whether the grant is usable (template, namespace, cname-map, EAB
Secret) and which NDC account it is bound to; the front end does the rest."""

from __future__ import annotations

from typing import Any

import kopf

from star_operator import conditions, events, k8s
from star_operator import constants as c
from star_operator.delegation.readiness import assess
from star_operator.handlers import transient

#: Secrets, templates and the front end's binding change without touching the Delegation.
RECHECK_INTERVAL = 30.0


@kopf.on.resume(c.GROUP, c.VERSION, c.DELEGATION_PLURAL, id="reconcile")
@kopf.on.create(c.GROUP, c.VERSION, c.DELEGATION_PLURAL, id="reconcile")
@kopf.on.update(c.GROUP, c.VERSION, c.DELEGATION_PLURAL, id="reconcile")
@kopf.timer(c.GROUP, c.VERSION, c.DELEGATION_PLURAL, id="recheck", interval=RECHECK_INTERVAL)
async def reconcile(body: kopf.Body, **_: Any) -> None:
    meta = body.get("metadata") or {}
    spec = body.get("spec") or {}
    ref = (spec.get("externalAccountBinding") or {}).get("hmacKeySecretRef") or {}
    with transient.retried_later(5.0):
        template = await k8s.get_object(c.CSRTEMPLATE_PLURAL, None,
                                        spec.get("csrTemplateName", ""))
        secret = await k8s.get_secret(meta["namespace"], ref["name"]) if ref.get("name") \
            else None
        verdict = assess(body, template, secret)
        status = body.get("status") or {}
        generation = meta.get("generation")
        patch = conditions.ready_patch(status, verdict.ready, verdict.reason, verdict.message,
                                       observed_generation=generation,
                                       observedGeneration=generation)
        old = conditions.get_condition(status.get("conditions"), conditions.READY)
        new = conditions.get_condition(patch["conditions"], conditions.READY) or {}
        if conditions.same_condition(old, new) and status.get("observedGeneration") == generation:
            return  # the 30 s recheck writes only when something changed
        await k8s.patch_status(c.DELEGATION_PLURAL, meta["namespace"], meta["name"], patch)
    if not verdict.ready:
        events.poster(body)("Warning", verdict.reason, verdict.message)


@kopf.on.delete(c.GROUP, c.VERSION, c.DELEGATION_PLURAL, id="end-orders", optional=True)
async def end_orders(body: kopf.Body, logger: kopf.Logger, **_: Any) -> None:
    """Cancel the Delegation's StarOrders now (``spec.canceled``: the operator cancels the
    STAR order or revokes at the CA). Their ownerReferences make the garbage collector delete
    them too, but only once it has noticed, which took ~20 s here; the DNO was promised
    seconds. ``optional``: no finalizer on the Delegation, so an operator that is down never
    blocks its deletion (the garbage collector still ends the orders)."""
    meta = body.get("metadata") or {}
    ns = meta["namespace"]
    with transient.retried_later(2.0):
        listed = await k8s.client().request(
            "GET", k8s.custom_path(c.STARORDER_PLURAL, ns),
            params={"labelSelector": f"{c.DELEGATION_LABEL}={meta['name']}"})
        for item in listed.get("items") or ():
            owners = item["metadata"].get("ownerReferences") or ()
            if not any(o.get("uid") == meta.get("uid") for o in owners) \
                    or (item.get("spec") or {}).get("canceled"):
                continue
            try:
                await k8s.patch_object(c.STARORDER_PLURAL, ns, item["metadata"]["name"],
                                       {"spec": {"canceled": True}})
            except k8s.NotFound:
                continue  # the garbage collector was first
            logger.info("canceled StarOrder %s of the deleted Delegation",
                        item["metadata"]["name"])

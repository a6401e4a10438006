"""Delegation: report whether the grant is usable (template, namespace, cname-map, EAB
Secret) and which NDC account it is bound to, keep its cname-map in the DNO's zone while it is
usable, and end everything when it is deleted; the front end does the protocol."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import kopf

from star_operator import events, k8s, reporting
from star_operator import constants as c
from star_operator.delegation.readiness import Verdict, assess
from star_operator.handlers import transient
from star_operator.zone_records import cname_map

#: Secrets, templates, the front end's binding and the zone change without touching the
#: Delegation: this recheck also retries a cname-map the DNS server did not take.
RECHECK_INTERVAL = 30.0
#: Retry of the CNAME removal while a Delegation is deleted and the DNS server does not answer.
DNS_RETRY = 10.0


def _map(spec: Mapping[str, Any] | None) -> dict[str, str]:
    return dict((spec or {}).get("cnameMap") or {})


async def _publish(spec: Mapping[str, Any], old_spec: Mapping[str, Any] | None,
                   verdict: Verdict) -> Verdict:
    """The cname-map in the zone while the grant is usable (RFC 9115 §2.3.2.1); a refusal
    or DNS failure becomes the verdict, so the DNO sees why the CNAME is missing."""
    if not verdict.ready:
        return verdict
    try:
        await cname_map.sync(spec["csrTemplateName"], _map(spec),
                             _map(old_spec) if old_spec is not None else None)
    except cname_map.ZoneRecordError as exc:
        return Verdict(False, exc.reason, exc.message)
    return verdict


@kopf.on.resume(c.GROUP, c.VERSION, c.DELEGATION_PLURAL, id="reconcile")
@kopf.on.create(c.GROUP, c.VERSION, c.DELEGATION_PLURAL, id="reconcile")
@kopf.on.update(c.GROUP, c.VERSION, c.DELEGATION_PLURAL, id="reconcile")
@kopf.timer(c.GROUP, c.VERSION, c.DELEGATION_PLURAL, id="recheck", interval=RECHECK_INTERVAL)
async def reconcile(body: kopf.Body, old: Any = None, **_: Any) -> None:
    meta = body.get("metadata") or {}
    spec = body.get("spec") or {}
    ref = (spec.get("externalAccountBinding") or {}).get("hmacKeySecretRef") or {}
    with transient.retried_later(5.0):
        template = await k8s.get_object(c.CSRTEMPLATE_PLURAL, None,
                                        spec.get("csrTemplateName", ""))
        secret = await k8s.get_secret(meta["namespace"], ref["name"]) if ref.get("name") \
            else None
        verdict = await _publish(spec, (old or {}).get("spec") if old else None,
                                 assess(body, template, secret))
        # The 30 s recheck writes (and warns) only when something changed.
        write = functools.partial(k8s.patch_status, c.DELEGATION_PLURAL, meta["namespace"],
                                  meta["name"])
        await reporting.report(body.get("status"), verdict.ready, verdict.reason,
                               verdict.message, generation=meta.get("generation"), write=write,
                               post_event=events.poster(body),
                               event=None if verdict.ready else "Warning")


async def _cancel_orders(meta: Mapping[str, Any], logger: kopf.Logger) -> None:
    """``spec.canceled`` on the Delegation's StarOrders: the operator cancels the STAR order
    or revokes at the CA now. Their ownerReferences make the garbage collector delete them
    too, but only once the Delegation is gone and it has noticed (~20 s here)."""
    ns = meta["namespace"]
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
            continue  # already gone
        logger.info("canceled StarOrder %s of the deleted Delegation", item["metadata"]["name"])


@kopf.on.delete(c.GROUP, c.VERSION, c.DELEGATION_PLURAL, id="end")
async def end(body: kopf.Body, logger: kopf.Logger, **_: Any) -> None:
    """The finalizer's job: end every order under the Delegation, then take its CNAMEs out of
    the zone. A template already gone leaves no way into the zone: warned, not waited for."""
    meta, spec = body.get("metadata") or {}, body.get("spec") or {}
    with transient.retried_later(2.0):
        await _cancel_orders(meta, logger)
    try:
        await cname_map.remove(spec.get("csrTemplateName", ""), _map(spec))
    except cname_map.ZoneRecordError as exc:
        if exc.reason != "TemplateNotFound":
            raise kopf.TemporaryError(exc.message, delay=DNS_RETRY) from exc
        events.poster(body)("Warning", exc.reason, f"cname-map left in the zone: {exc.message}")

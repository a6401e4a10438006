"""Deleting a StarOrder stops the delegation: the STAR order is canceled at the CA first.

RFC 8739 §3.1.2: POST ``{"status":"canceled"}`` to the order URL; the CA then stops issuing and
answers the star-certificate URL with 403 ``autoRenewalCanceled``. Until the CA confirms, the
finalizer stays and the attempt is retried with backoff (status + Warning Events say why). An
admin can give up on the CA with the ``star.operator.dev/force-delete: "true"`` annotation.
A CsrTemplate deleted before its StarOrders does not block this: see :mod:`.ca_access`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from star_operator import acme, k8s, metrics
from star_operator import constants as c
from star_operator.ordering import accounts, ca_access, capabilities
from star_operator.ordering import via_front_end
from star_operator.ordering.issuance import OrderJob, Retry, policy_of
from star_operator.secrets import ownership
from star_operator.series import revocation

#: Order states in which the CA will never issue again, so there is nothing to cancel.
DEAD_STATES = frozenset({"invalid", "canceled", "expired", "deactivated", "revoked"})


def force_requested(body: Mapping[str, Any]) -> bool:
    """Whether an admin asked to skip cancellation."""
    ann = (body.get("metadata") or {}).get("annotations") or {}
    return str(ann.get(c.FORCE_DELETE_ANNOTATION, "")).lower() == "true"


async def _client(job: OrderJob) -> acme.AcmeClient:
    """The template's client; if the template is gone, the account the order was placed with
    (:mod:`.ca_access`), so that deleting a CsrTemplate first does not strand its orders.
    A CDN's Order1 (``spec.issuerRef``) is canceled at the front end, with its StarIssuer's."""
    if via_front_end.applies(job.spec):
        return await via_front_end.client_for_order(job)
    template = (job.recorder.get("ordered") or job.spec)["csrTemplateName"]
    body = await job.objects.get_object(c.CSRTEMPLATE_PLURAL, None, template)
    recorded = job.recorder.get("caAccess")
    if body is None and recorded:
        return await ca_access.client_from(recorded)
    policy = await policy_of(job, template, body)
    material = await accounts.load_material(policy, store=job.material_store)
    return await accounts.client_for(job.templates, policy, material)


#: The ACME client a StarOrder is canceled with (:func:`_client`; a fake CA in unit tests).
ClientFor = Callable[[OrderJob], Awaitable[acme.AcmeClient]]


async def _cancel_at_ca(job: OrderJob, order_url: str, client_for: ClientFor) -> str:
    """Cancel, or confirm there is nothing to cancel; returns the final order state."""
    try:
        client = await client_for(job)
        order = await client.get_order(order_url)
    except (acme.AcmeProblem, via_front_end.IssuerError) as exc:
        if via_front_end.applies(job.spec) and via_front_end.order1_gone(exc):
            return "canceled"  # the DNO ended the delegation, and every Order1 under it
        if isinstance(exc, via_front_end.IssuerError):
            raise Retry(exc.message, 0) from exc
        raise
    if order.status == "processing":  # finalize in flight: it becomes valid, then we cancel
        order = await client.wait_order(order_url)
    if order.status in DEAD_STATES:
        return order.status
    if order.status != "valid":
        return order.status  # pending/ready: never finalized, never issues; it will expire
    try:
        with metrics.time_acme("cancel"):
            order = await client.cancel_order(order_url)
    except acme.AcmeProblem as problem:
        if problem.short_type != "autoRenewalCancellationInvalid":
            raise
        order = await client.get_order(order_url)  # someone else canceled first: re-read
        if order.status not in DEAD_STATES:
            raise
    return order.status


async def _end_series(job: OrderJob, client_for: ClientFor) -> str:
    """An emulated series: nothing more is ordered (its daemon has stopped); revoke what is
    out unless ``revokeOnDelete: false``. Returns what happened, for the Event."""
    series = dict(job.recorder.get("series") or {})
    asked = revocation.requested_reason(job.body)  # the NDC revoking through the front end
    if not revocation.revoke_on_delete(job.spec) and asked is None:
        return (f"not revoked (revokeOnDelete: false); serial {series.get('serial')} stays "
                f"valid until {series.get('notAfter')}")
    reason = revocation.CESSATION_OF_OPERATION if asked is None else asked
    if not series.get("revoked"):
        client = await client_for(job)
        serials = await revocation.revoke_series(client, series, reason)
        await job.recorder.record(series={"revoked": serials or True})
    what = "cessationOfOperation" if asked is None else f"reason {reason}, asked by the NDC"
    return f"revoked at the CA ({what}): serial {series.get('serial')}"


def _revocation_asked(job: OrderJob) -> bool:
    return (revocation.requested_reason(job.body) is not None
            and job.recorder.get("mode") in capabilities.SELF_ORDERED
            and not (job.recorder.get("series") or {}).get("revoked"))


def cancel_requested(spec: Mapping[str, Any]) -> bool:
    """``spec.canceled: true``: end the delegation now and keep the StarOrder (and Secret)."""
    return spec.get("canceled") is True


async def end_at_ca(job: OrderJob, delay_cap: float, client_for: ClientFor = _client) -> None:
    """Stop the delegation at the CA: cancel a native STAR order, or end an emulated series
    (revoking what is out); a force-delete annotation skips it with a Warning. Raises
    :class:`Retry` while the CA does not confirm. Shared by deletion and ``spec.canceled``."""
    rec = job.recorder
    order_url = rec.get("orderURL")
    if force_requested(job.body):
        if order_url and rec.get("orderState") not in DEAD_STATES:
            consequence = ("no further certificate is ordered, but the current one was NOT "
                           "revoked" if rec.get("mode") in capabilities.SELF_ORDERED else
                           "was NOT canceled at the CA; its certificates keep being issued "
                           "until its end-date")
            rec.post_event("Warning", "ForceDeleted",
                           f"{c.FORCE_DELETE_ANNOTATION} set: STAR order {order_url}: "
                           f"{consequence}")
    elif via_front_end.nothing_to_cancel(job.spec, rec.status):
        rec.post_event("Normal", "NothingToCancel", "an ordinary certificate (spec.star false) "
                       "has no STAR order to cancel; it stays valid until it expires unless "
                       "the DNO revokes it")
    elif order_url and rec.get("orderState") not in DEAD_STATES:
        emulated = rec.get("mode") in capabilities.SELF_ORDERED
        try:
            state = await (_end_series(job, client_for) if emulated
                           else _cancel_at_ca(job, order_url, client_for))
        except (acme.AcmeError, accounts.CaSettingsError, k8s.ApiError, OSError, Retry) as exc:
            attempts = int(rec.get("cancelAttempts") or 0) + 1
            delay = job.backoff.capped(delay_cap).delay(attempts)
            what = "revoke the certificates of" if emulated else "cancel"
            message = (f"cannot {what} STAR order {order_url} at the CA (attempt {attempts}, "
                       f"retrying in {delay:.0f}s): {exc}. Set annotation "
                       f"{c.FORCE_DELETE_ANNOTATION}=\"true\" to delete without canceling.")
            await rec.ready(False, "RevokeFailed" if emulated else "CancelFailed", message,
                            event="Warning",
                            phase=c.Phase.CANCELING, cancelAttempts=attempts, lastError=str(exc))
            raise Retry(message, delay) from exc
        if emulated:
            rec.post_event("Normal", "SeriesEnded", f"emulated STAR series ended, no further "
                                                    f"order; {state}")
        else:
            await rec.record(orderState=state)
            rec.post_event("Normal", "Canceled", f"STAR order {order_url} is {state} at the CA")


async def cancel_in_place(job: OrderJob, delay_cap: float,
                          client_for: ClientFor = _client) -> None:
    """``spec.canceled``: the delegation ends as on deletion, the objects stay (phase
    ``Canceled``, irreversible: a new StarOrder starts a new delegation). A canceled
    StarOrder whose certificate was kept (``revokeOnDelete: false``) is looked at again when
    the NDC asks for its revocation (the ``revocation-reason`` annotation)."""
    if job.recorder.phase == c.Phase.CANCELED and not _revocation_asked(job):
        return
    await end_at_ca(job, delay_cap, client_for)
    await job.recorder.ready(False, "Canceled", "spec.canceled: the delegation was ended at the "
                                                "CA; no further certificate. The Secret keeps "
                                                "the last one until it expires.",
                             event="Normal", phase=c.Phase.CANCELED)


async def finalize_deletion(job: OrderJob, delay_cap: float) -> None:
    """Cancel (or force), then apply ``spec.secretPolicy``; raise :class:`Retry` on failure."""
    await end_at_ca(job, delay_cap)
    if (job.spec.get("secretPolicy") or "Retain") == "Delete":
        await _delete_own_secret(job)
    metrics.forget_order(job.namespace, job.name)


async def _delete_own_secret(job: OrderJob) -> None:
    """``secretPolicy: Delete`` deletes the Secret only if it is this StarOrder's: one that
    another owner holds (this StarOrder was refused with ``SecretConflict``) is left alone."""
    name = job.spec["secretName"]
    secret = await k8s.get_secret(job.namespace, name)
    if secret is None:
        return
    found = ownership.assess(secret, job.claim.owner)
    if found.verdict is ownership.Verdict.OURS or (
            found.verdict is ownership.Verdict.FREE and found.holder is None):
        await k8s.delete_secret(job.namespace, name)
    else:
        whose = (f"it belongs to {found.holder}" if found.holder is not None
                 else "star-operator did not create it")
        job.recorder.post_event("Normal", "SecretKept", f"secretPolicy Delete: Secret "
                                                        f"{job.namespace}/{name} kept: {whose}")

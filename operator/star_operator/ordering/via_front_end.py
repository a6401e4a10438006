"""A StarOrder with ``spec.issuerRef``: the CDN orders through the DNO's RFC 9115 front end.

The same resumable steps as :mod:`.issuance`, with the DNO's part done by the DNO:

1. the StarIssuer connected (:mod:`.issuers`): EAB-bound account, the delegation, its
   CSR template;
2. the key generated from that template (the existing generator), staged in the target Secret
   exactly as :mod:`.issuance` does (``staged-tls.key``; it never leaves the Secret) and the
   CSR recorded in ``status.csr``, or on resume both reused;
3. Order1: ``status.newOrderAt``, newOrder with ``delegation`` and ``auto-renewal``,
   ``status.orderURL`` recorded the moment the front end answers (on resume continued, never
   placed again; one whose answer was lost is adopted from the account's orders list);
4. finalize with the CSR (Order1 has no authorizations: the DNO answers the CA);
5. the ``star-certificate`` URL into status and the owned StarCertificate, which keeps the
   Secret current from it as for any StarOrder.

``spec.star: false`` is RFC 9115 §2.3.3's ordinary variant (mode ``Ordinary``, recorded with
``newOrderAt`` so a resume knows the kind): Order1 without ``auto-renewal``, and in step 5 its
one certificate downloaded from Order1's ``certificate`` URL (POST-as-GET) and installed with
the staged key by the same verify-and-write as an emulated series' (:mod:`star_operator.series.
install`); ``status.certificateURL`` and ``notAfter`` recorded, nothing ordered after it, and
nothing to cancel on deletion or ``spec.canceled`` (:func:`nothing_to_cancel`): the certificate
lives until it expires unless the DNO revokes it.

Deletion and ``spec.canceled`` cancel Order1 (:mod:`.cancel`, whose client comes from
:func:`client_for_order`). The CSR is judged locally against the template first, so a name
the template has no room for never reaches the front end; what only the DNO can judge (its
domains behind a ``*``) comes back as the front end's ``badCSR`` and ends the order with the
front end's problem (field named) in Ready, phase Failed: a spec edit starts a new one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from star_operator import acme, metrics, timeutil
from star_operator.csr_template import (DomainPolicy, TemplateRequestError, Violation,
                                        generate_key_and_csr)
from star_operator.ordering import (accounts, adopt, capabilities, issuers, readiness, request,
                                    status as st)
from star_operator.ordering.issuance import (RECHECK_DELAY, OrderJob, Retry, claim_secret,
                                             ensure_certificate, follow_star_certificate,
                                             ready_valid, reject, stage_key, stored_request)
from star_operator.ordering.issuers import FrontEnd, IssuerError, connect, load_issuer
from star_operator.renewal.fetcher import CycleError
from star_operator.series import install

__all__ = ["IssuerError", "applies", "client_for_order", "nothing_to_cancel", "order1_gone",
           "reconcile"]

#: Clock tolerance of the ordinary certificate's check (that of a series' certificates).
CLOCK_SKEW = 5.0
#: Problems of a finalize that end Order1 (RFC 9115 §2.3.2, RFC 8555 §7.4).
REFUSALS = frozenset({"badCSR", "rejectedIdentifier", "unknownDelegation", "unauthorized",
                      "malformed", "caa"})


def applies(spec: Mapping[str, Any]) -> bool:
    """Whether this StarOrder orders through a front end (``spec.issuerRef``)."""
    return bool(spec.get("issuerRef"))


def mode_of(spec: Mapping[str, Any]) -> str:
    """``Ordinary`` for ``spec.star: false`` (one certificate), else ``Native``: whether the
    DNO's CA has STAR or the front end emulates it is the DNO's business, never the CDN's."""
    return capabilities.ORDINARY if spec.get("star") is False else capabilities.NATIVE


def settled(status: Mapping[str, Any]) -> bool:
    """Whether an ordinary Order1's certificate is installed: then nothing is ever done again
    (no renewal, no re-download), whatever happens to the Secret or the front end."""
    return (status.get("mode") == capabilities.ORDINARY and status.get("phase") == st.VALID
            and bool(status.get("certificateURL")))


def nothing_to_cancel(spec: Mapping[str, Any], status: Mapping[str, Any]) -> bool:
    """A CDN's ordinary Order1: there is no STAR order to cancel, and the CDN cannot revoke at
    the DNO's CA; deletion and ``spec.canceled`` end nothing (the DNO may revoke)."""
    return applies(spec) and status.get("mode") == capabilities.ORDINARY


def order1_renewal(req: request.OrderRequest, mode: str) -> acme.AutoRenewal | None:
    """Order1's ``auto-renewal`` object; None for the ordinary variant (RFC 9115 §2.3.3)."""
    if mode == capabilities.ORDINARY:
        return None
    return acme.AutoRenewal(end_date=req.end_date, lifetime=req.lifetime,
                            start_date=req.start_date, lifetime_adjust=req.lifetime_adjust,
                            allow_certificate_get=True)


async def client_for_order(job: OrderJob) -> acme.AcmeClient:
    """The client Order1 was placed with: its StarIssuer's (cancel and deletion), or, when
    the StarIssuer or its Secrets are already gone (a namespace being deleted), the client it
    had (:func:`.issuers.cached_client`)."""
    name = job.spec["issuerRef"]["name"]
    try:
        return (await issuers.client_for(job.issuers,
                                         await load_issuer(job.namespace, name)))[0]
    except (IssuerError, accounts.CaSettingsError):
        cached = issuers.cached_client(job.issuers, job.namespace, name)
        if cached is None:
            raise
        return cached


def order1_gone(exc: Exception) -> bool:
    """Whether the front end no longer knows this account or Order1: the DNO deleted the
    Delegation (which canceled every order under it at the CA), so nothing is left to cancel
    and deleting the StarOrder must not wait for it."""
    if isinstance(exc, IssuerError):
        return exc.reason in ("ExternalAccountBindingRefused", "UnknownDelegation")
    if not isinstance(exc, acme.AcmeProblem):
        return False
    return (exc.short_type in ("unauthorized", "accountDoesNotExist")
            or (exc.short_type == "malformed" and exc.status == 404))  # "no such order"


async def _front_end(job: OrderJob) -> FrontEnd:
    """The connected StarIssuer; refusals recorded (re-checked rarely), a front end that cannot
    be reached retried with backoff."""
    rec = job.recorder
    try:
        return await connect(job.issuers,
                             await load_issuer(job.namespace, job.spec["issuerRef"]["name"]))
    except (IssuerError, accounts.CaSettingsError) as exc:
        await rec.ready(False, exc.reason, exc.message, event="Warning", lastError=exc.message)
        # a StarIssuer applied after its StarOrder is found soon; other refusals need a human
        waits = isinstance(exc, IssuerError) and exc.reason != "IssuerNotFound"
        raise Retry(exc.message, RECHECK_DELAY if waits else job.delay()) from exc
    except acme.AcmeError as exc:
        await _unreachable(job, exc)
        raise  # unreachable


async def _unreachable(job: OrderJob, exc: acme.AcmeError) -> None:
    message = f"delegation front end: {exc}"
    await job.recorder.ready(False, "FrontEndUnreachable"
                             if isinstance(exc, acme.AcmeConnectionError) else "FrontEndError",
                             message, event="Warning", lastError=message)
    raise Retry(message, job.delay()) from exc


async def prepare_key(job: OrderJob, front: FrontEnd,
                      req: request.OrderRequest) -> x509.CertificateSigningRequest:
    """Key and CSR from the delegation's template; the key staged in the target Secret.

    Names under a ``*``/``**`` entry are the CDN's to choose: the DNO's domain policy is the
    front end's to apply, so locally each requested name is its own allowed domain.
    """
    secret = await claim_secret(job)
    stored = stored_request(job, secret)
    if stored is not None:
        return stored[0]
    own = DomainPolicy(sorted({n[2:] if n.startswith("*.") else n for n in req.names}))
    try:
        generated = generate_key_and_csr(front.template, own, req.names, req.key_type,
                                         req.subject)
    except TemplateRequestError as exc:
        await reject(job, "TemplateViolation", [Violation(
            f"delegation csr-template {exc.field or ''}".strip(),
            f"{exc.reason} (delegation {front.delegation.url})")])
        raise  # unreachable: reject raises
    await stage_key(job, generated.key_pem, secret)
    job.recorder.defer_ready(  # written with the newOrder marker (or the attempt's failure)
        False, "KeyStaged", f"private key stored in Secret {job.spec['secretName']}; ordering "
                            f"through delegation {front.delegation.url}",
        phase=st.KEY_STAGED, csr=generated.csr_pem.decode(),
        ordered=request.ordered_fields(job.spec), startDate=timeutil.format_time(req.start_date),
        endDate=timeutil.format_time(req.end_date), violations=None)
    return generated.csr


async def place_order1(job: OrderJob, front: FrontEnd, req: request.OrderRequest) -> acme.Order:
    """newOrder under the delegation, its URL recorded at once; a lost answer adopted."""
    rec, client = job.recorder, front.client
    if rec.get("newOrderAt"):
        try:
            found = await adopt.find_unrecorded_order(client, req)
        except acme.AcmeProtocolError:  # a front end without an orders list: nothing to adopt
            found = None                 # (an unfinalized Order1 never reaches the CA)
        if found is not None:
            await rec.record(orderURL=found.url, orderState=found.status, phase=st.ORDERED,
                             accountURL=client.account_url, newOrderAt=None)
            return found
    mode = mode_of(job.spec)
    await rec.record(newOrderAt=timeutil.format_time(timeutil.utcnow()), mode=mode)
    with metrics.time_acme("new-order"):
        order = await client.new_order(list(req.names), order1_renewal(req, mode),
                                       delegation=front.delegation.url)
    await rec.record(orderURL=order.url, orderState=order.status, phase=st.ORDERED,
                     accountURL=client.account_url, newOrderAt=None)
    return order


async def _refused(job: OrderJob, problem: acme.AcmeProblem) -> None:
    """The front end's final no: Ready=False with its problem (subproblems name the fields)."""
    violations = [{"field": (sub.identifier or {}).get("value") or sub.short_type,
                   "message": sub.detail} for sub in problem.subproblems]
    message = f"the delegation front end refused the order: {problem}"
    await job.recorder.ready(False, f"FrontEnd{problem.short_type[:1].upper()}"
                                    f"{problem.short_type[1:]}", message, event="Warning",
                             phase=st.FAILED, lastError=message, violations=violations or None)


async def reconcile(job: OrderJob) -> None:
    """Bring a front-end StarOrder as far as it goes now; :class:`Retry` to come back later."""
    rec = job.recorder
    if rec.phase == st.CANCELED or (rec.phase == st.FAILED and
                                    rec.get("observedGeneration") == rec.generation):
        return  # refused or canceled: only a spec edit (or a new StarOrder) starts again
    if rec.phase == st.FAILED:
        await rec.record(phase=st.PENDING, orderURL=None, orderState=None, csr=None,
                         ordered=None, startDate=None, endDate=None, starCertificateURL=None,
                         newOrderAt=None, violations=None, mode=None, certificateURL=None)
    try:
        req = request.build_request(job.spec, timeutil.utcnow(), rec.get("endDate"))
    except (ValueError, KeyError) as exc:
        await reject(job, "SpecInvalid", [Violation("spec", str(exc))])
        raise  # unreachable
    if settled(rec.status):
        return  # one ordinary certificate, installed: nothing is ever ordered after it
    front = await _front_end(job)
    order_url = rec.get("orderURL")
    if rec.phase == st.VALID and order_url:
        cert = await ensure_certificate(job, _issuer_name(job), front.ca_pem, req,
                                        rec.get("starCertificateURL"))
        await ready_valid(job, cert)
        return
    csr = (x509.load_pem_x509_csr(rec.get("csr").encode()) if order_url
           else await prepare_key(job, front, req))
    try:
        order = (await front.client.get_order(order_url) if order_url
                 else await place_order1(job, front, req))
        if order.status == "ready":
            order = await front.client.finalize(
                order, csr.public_bytes(serialization.Encoding.DER))
        elif order.status in ("pending", "processing"):
            order = await front.client.wait_order(order.url)
    except acme.AcmeProblem as problem:
        if problem.short_type in REFUSALS:
            await _refused(job, problem)
            return
        await _unreachable(job, problem)
    except acme.AcmeError as exc:
        await _unreachable(job, exc)
    await _settle(job, front, req, order)


@dataclasses.dataclass(frozen=True)
class IssuerName:
    """All :func:`.issuance.ensure_certificate` reads of its policy: ``name``, written as the
    Secret's cert-manager issuer-name; here the StarIssuer's."""

    name: str


def _issuer_name(job: OrderJob) -> Any:
    return IssuerName(job.spec["issuerRef"]["name"])


async def _settle(job: OrderJob, front: FrontEnd, req: request.OrderRequest,
                  order: acme.Order) -> None:
    rec = job.recorder
    if order.status == "valid" and order.certificate and rec.get("mode") == capabilities.ORDINARY:
        await _install_ordinary(job, front, req, order, order.certificate)
    elif order.status == "valid" and order.star_certificate:
        await follow_star_certificate(job, _issuer_name(job), front.ca_pem, req, order,
                                      order.star_certificate)
    elif order.status in ("invalid", "canceled", "valid"):
        detail = (str(order.error) if order.error else
                  "Order1 is valid but has no star-certificate URL" if order.status == "valid"
                  else f"Order1 is {order.status} at the front end")
        phase = st.CANCELED if order.status == "canceled" else st.FAILED
        await rec.ready(False, "OrderCanceled" if phase == st.CANCELED else "OrderInvalid",
                        detail, event="Warning", phase=phase, orderState=order.status)
    else:
        await rec.record(orderState=order.status)
        raise Retry(f"Order1 still {order.status}", job.delay())


async def _install_ordinary(job: OrderJob, front: FrontEnd, req: request.OrderRequest,
                            order: acme.Order, url: str) -> None:
    """The one certificate of an ordinary Order1: downloaded, verified against the staged key
    and the StarIssuer's roots, written with it; a failure leaves the Secret as it was and is
    retried (Order1 stays recorded, so nothing is ordered again)."""
    target = install.Target(namespace=job.namespace, order_name=job.name,
                            secret_name=job.spec["secretName"], names=req.names,
                            issuer_name=job.spec["issuerRef"]["name"], ca_pem=front.ca_pem,
                            claim=job.claim)
    try:
        cert = await install.install(front.client, url, target, clock_skew=CLOCK_SKEW)
    except (CycleError, acme.AcmeError) as exc:
        reason, message = ((exc.reason, exc.message) if isinstance(exc, CycleError)
                           else ("FrontEndError", f"delegation front end: {exc}"))
        await job.recorder.ready(False, reason, message, event="Warning", lastError=message)
        raise Retry(message, job.delay()) from exc
    message = (f"one ordinary certificate (spec.star false), serial {cert.serial}, in Secret "
               f"{job.spec['secretName']}; nothing is ordered after it")
    await job.recorder.ready(True, readiness.ISSUED, message, event="Normal", phase=st.VALID,
                             orderState=order.status, certificateURL=url,
                             notAfter=timeutil.format_time(cert.not_after),
                             lastError=None, certificateName=None)

"""The resumable STAR issuance of one StarOrder.

Steps, each recorded in status before the next begins (see :mod:`.status`):

1. policy: the CsrTemplate exists, is valid and allows this namespace;
2. request: the spec fits the template's STAR bounds;
3. key: the target Secret is free or this StarOrder's (:mod:`~star_operator.secrets.ownership`:
   another owner's Secret is refused here, ``SecretConflict``, before anything is written or
   ordered); the key generated with its CSR, checked against the template, stored in the
   Secret (``staged-tls.key``), then ``status.csr`` — or, on resume, the stored key and CSR
   reused; a StarOrder with ``spec.csr`` (:mod:`.delegated`) has no key: that CSR is checked
   and recorded instead;
4. order: ``status.newOrderAt``, then newOrder with ``auto-renewal``; ``status.orderURL`` is
   written the moment the CA answers — on resume the recorded order is continued, never
   re-placed, and one whose answer was lost is adopted (:mod:`.adopt`);
5. dns-01 through RFC 2136, finalize with the CSR, wait for ``valid``;
6. an owned StarCertificate that does the fetching, whose first Ready makes the StarOrder
   ``Valid`` with ``status.starCertificateURL`` (none for ``spec.csr``: whoever holds the key
   fetches from the CA's URL, and the StarOrder is ``Valid`` at once).

``spec.star: false`` asks for one ordinary certificate (mode ``Ordinary``, RFC 9115 §2.3.3):
steps 4-5 without ``auto-renewal``, the certificate installed as the first of an emulated
series would be, and nothing ordered after it.

Refusals (namespace, bounds, template violations) end with ``Ready=False`` and a Warning Event
and never reach the CA. Transient failures raise :class:`Retry` with a delay.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, NoReturn

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from star_operator import acme, conditions, k8s, metrics, pem, timeutil
from star_operator.backoff import Backoff
from star_operator import constants as c
from star_operator.csr_template import TemplateRequestError, Violation, check_csr
from star_operator.csr_template import generate_key_and_csr
from star_operator.dns01 import Dns01Error
from star_operator.ordering import (accounts, adopt, ca_access, capabilities, delegated,
                                    failures, readiness, request, status as st)
from star_operator.ordering.client_cache import AccountClients
from star_operator.ordering.objects import API_OBJECTS, ObjectStore
from star_operator.ordering.progress import progress_order
from star_operator.ordering.templates import TemplatePolicy, TemplateSpecError, parse_template
from star_operator.renewal.fetcher import CycleError
from star_operator.secrets import owner_lookup, ownership, payload, writer
from star_operator.secrets.handoff import SecretHandoff
from star_operator.secrets.read_cache import TtlSecretCache
from star_operator.series import install
from star_operator.series import renewal as series_renewal

RECHECK_DELAY = 300.0  # refusals are re-examined this often (a template may have changed)
#: Longest wait between looks at a Secret another owner holds. Why a cap of its own: the
#: operator does not watch Secrets, so a re-read is how it notices the Secret was freed (its
#: owner or the Secret deleted), and one GET per half minute per conflicting StarOrder costs
#: nothing, where the ordinary 10-minute cap would leave the freed name unserved that long.
SECRET_CONFLICT_RECHECK = 30.0
#: Ready reason of a StarOrder whose target Secret another owner holds.
SECRET_CONFLICT = "SecretConflict"
#: Ready reason of a valid native STAR order for ``spec.csr``: issued, fetched elsewhere.
DELEGATED = "Delegated"


class Retry(Exception):
    """Try the reconciliation again after ``delay`` seconds."""

    def __init__(self, message: str, delay: float) -> None:
        super().__init__(message)
        self.delay = delay


@dataclasses.dataclass
class OrderJob:
    """One reconciliation of a StarOrder."""

    namespace: str
    name: str
    body: Mapping[str, Any]
    recorder: st.StatusRecorder
    default_namespace: str
    #: kopf's retry count: 0 on the first attempt.
    retry: int = 0
    backoff: Backoff = Backoff()
    #: Whether the recorded owner of a Secret still exists (see :mod:`.secrets.ownership`).
    owner_exists: ownership.OwnerLookup = owner_lookup.exists
    #: Where the target Secret is read and the key staged, and the CsrTemplate's Secrets
    #: (account key, CA bundle, TSIG key) are read (the API server; a fake in tests).
    secrets: writer.SecretStore = writer.API_SERVER
    #: Where the CsrTemplate's Secrets are read instead, when not from ``secrets``: the
    #: operator's short-lived cache of them (:class:`~star_operator.secrets.read_cache.
    #: TtlSecretCache`), so the StarOrders of one template do not each read the same three.
    template_secrets: TtlSecretCache | None = None
    #: Where the CsrTemplate is read and the owned StarCertificate kept (likewise).
    objects: ObjectStore = API_OBJECTS
    #: Where a staged Secret is left for the StarCertificate's first cycle (the process's,
    #: from :class:`~star_operator.context.OperatorContext`; None: nowhere).
    handoff: SecretHandoff | None = None
    #: The operator's ACME clients by CsrTemplate and by StarIssuer (the handlers pass the
    #: process's, from :class:`~star_operator.context.OperatorContext`); a job built on its
    #: own, as in unit tests, starts with empty ones.
    templates: AccountClients[str] = dataclasses.field(default_factory=AccountClients)
    issuers: AccountClients[tuple[str, str]] = dataclasses.field(
        default_factory=AccountClients)

    @property
    def spec(self) -> Mapping[str, Any]:
        return self.body.get("spec") or {}

    @property
    def claim(self) -> ownership.Claim:
        """This StarOrder as the owner of its Secret."""
        return ownership.Claim(ownership.order_claimant(self.body), self.owner_exists)

    def delay(self) -> float:
        """How long to wait if this attempt fails (the operator's one backoff policy)."""
        return self.backoff.delay(self.retry + 1)

    @property
    def material_store(self) -> writer.SecretStore:
        """Where the CsrTemplate's Secrets are read (see ``template_secrets``)."""
        return self.template_secrets or self.secrets

    def forget_material(self, policy: TemplatePolicy) -> None:
        """Something read from the template's Secrets just failed (a CA, TLS or DNS error):
        the next attempt reads them again, in case they were rotated."""
        if self.template_secrets is not None:
            self.template_secrets.forget(accounts.material_secrets(policy))


async def load_policy(job: OrderJob, template_name: str) -> TemplatePolicy:
    """Fetch and parse the CsrTemplate; refusals are recorded and raise :class:`Retry`."""
    body = await job.objects.get_object(c.CSRTEMPLATE_PLURAL, None, template_name)
    return await policy_of(job, template_name, body)


async def policy_of(job: OrderJob, template_name: str,
                    body: Mapping[str, Any] | None) -> TemplatePolicy:
    """Parse a fetched CsrTemplate (None: not found); refusals as in :func:`load_policy`."""
    rec = job.recorder
    if body is None:
        await rec.ready(False, "TemplateNotFound", f"CsrTemplate {template_name!r} not found",
                        event="Warning")
        raise Retry("template not found", max(job.delay(), 5.0))
    try:
        return parse_template(body, job.default_namespace)
    except TemplateSpecError as exc:
        await rec.ready(False, "TemplateInvalid", f"CsrTemplate {template_name!r}: {exc}",
                        event="Warning")
        raise Retry("template invalid", RECHECK_DELAY) from exc


async def reject(job: OrderJob, reason: str, violations: list[Violation]) -> NoReturn:
    """Record a refusal (no CA contact) and schedule a re-check."""
    text = request.format_violations(violations)
    await job.recorder.ready(False, reason, text, event="Warning", phase=c.Phase.REJECTED,
                             violations=[{"field": v.field, "message": v.message}
                                         for v in violations])
    raise Retry(f"rejected: {text}", RECHECK_DELAY)


def _csr_public_key_matches(csr: x509.CertificateSigningRequest, key_pem: bytes) -> bool:
    try:
        key = pem.load_private_key(key_pem)
    except pem.PemError:
        return False
    return pem.spki_der(key.public_key()) == pem.spki_der(csr.public_key())


def stored_request(job: OrderJob, secret: Mapping[str, Any] | None
                   ) -> tuple[x509.CertificateSigningRequest, bytes] | None:
    """The CSR in status and its key in ``secret``, if both survived (resume path)."""
    csr_pem = job.recorder.get("csr")
    if not csr_pem or job.recorder.get("ordered") != request.ordered_fields(job.spec):
        return None  # never staged, or staged for a spec that has since been edited
    key_pem = payload.read_key(secret)
    csr = x509.load_pem_x509_csr(csr_pem.encode())
    if key_pem and _csr_public_key_matches(csr, key_pem):
        return csr, key_pem
    return None


async def prepare_key(job: OrderJob, policy: TemplatePolicy,
                      req: request.OrderRequest) -> x509.CertificateSigningRequest:
    """Steps 2-3: bounds, key, CSR; refusals raise :class:`Retry` after recording."""
    now = timeutil.utcnow()
    violations = request.check_bounds(req, policy, now)
    secret = await claim_secret(job)
    if delegated.csr_text(job.spec):
        return await _accept_given_csr(job, policy, req, violations)
    stored = stored_request(job, secret)
    if stored is not None:
        csr = stored[0]
    else:
        try:
            generated = generate_key_and_csr(policy.template, policy.domains, req.names,
                                             req.key_type, req.subject)
        except TemplateRequestError as exc:
            violations.append(Violation(_violation_field(exc.field), exc.reason))
            await reject(job, "TemplateViolation", violations)
            raise  # unreachable: reject raises
        csr = generated.csr
    violations += check_csr(csr, policy.template, policy.domains)
    if violations:
        await reject(job, "TemplateViolation", violations)
    if stored is None:
        await stage_key(job, generated.key_pem, secret)
        job.recorder.defer_ready(  # written with the newOrder marker (or the attempt's failure)
            False, "KeyStaged", f"private key stored in Secret {job.spec['secretName']}; "
                                "placing the STAR order",
            phase=c.Phase.KEY_STAGED, csr=csr.public_bytes(serialization.Encoding.PEM).decode(),
            ordered=request.ordered_fields(job.spec),
            startDate=timeutil.format_time(req.start_date),
            endDate=timeutil.format_time(req.end_date), violations=None)
    return csr


async def _accept_given_csr(job: OrderJob, policy: TemplatePolicy, req: request.OrderRequest,
                            violations: list[Violation]) -> x509.CertificateSigningRequest:
    """Step 3 for ``spec.csr``: no key anywhere; the CSR checked and recorded as ours would be."""
    csr, more = delegated.check(job.spec, policy)
    violations = violations + more
    if violations or csr is None:
        await reject(job, "TemplateViolation", violations)
    job.recorder.defer_ready(  # nothing outside to record: goes with the next write
        False, "CsrAccepted", f"the CSR in spec.csr conforms to CsrTemplate {policy.name}; "
                              "placing the order (no key is generated: it stays with the "
                              "CSR's maker)",
        csr=delegated.pem_of(csr), ordered=request.ordered_fields(job.spec),
        startDate=timeutil.format_time(req.start_date),
        endDate=timeutil.format_time(req.end_date), violations=None)
    return csr


async def claim_secret(job: OrderJob) -> dict[str, Any] | None:
    """The target Secret (None: absent), if this StarOrder may write it; otherwise Ready=False
    ``SecretConflict`` naming the owner, a Warning Event, and :class:`Retry` with backoff: once
    the owner is deleted (or the Secret is), a later attempt proceeds.

    Read only when something may be in it for this StarOrder (a key staged by an earlier
    attempt, ``status.csr``) or when the last attempt found it held. Otherwise it is taken as
    absent, the usual case of a new StarOrder: the key is then staged by a create, and a
    Secret that exists after all fails that create (409), is read and checked then
    (:func:`~star_operator.secrets.writer.write_secret`), refused as before if it is another's,
    nothing written. One GET less per new order. The claim then holds for a key staged
    through :func:`stage_key` only."""
    if not _read_before_staging(job):
        return None
    name = job.spec["secretName"]
    secret = await job.secrets.get_secret(job.namespace, name)
    try:
        await ownership.check(secret, job.namespace, name, job.claim)
    except ownership.SecretConflictError as exc:
        await _secret_conflict(job, exc)
    return secret


def _read_before_staging(job: OrderJob) -> bool:
    """Whether :func:`claim_secret` reads the Secret (see there). Always for ``spec.csr``: no
    key is staged there, so no create would find the Secret held before the order is placed."""
    rec = job.recorder
    ready = conditions.get_condition(rec.get("conditions"), conditions.READY) or {}
    return (bool(rec.get("csr")) or ready.get("reason") == SECRET_CONFLICT
            or bool(delegated.csr_text(job.spec)))


async def _secret_conflict(job: OrderJob, exc: ownership.SecretConflictError) -> None:
    await job.recorder.ready(False, SECRET_CONFLICT, str(exc), event="Warning",
                             lastError=str(exc))
    raise Retry(str(exc), job.backoff.capped(SECRET_CONFLICT_RECHECK).delay(job.retry + 1)) \
        from exc


async def stage_key(job: OrderJob, key_pem: bytes, secret: Mapping[str, Any] | None) -> None:
    """Write the new key into the target Secret (``secret`` as just read); a refused write is a
    condition, not a crash (the CA path and the delegation path alike)."""
    secret_name = job.spec["secretName"]
    try:
        staged = await writer.stage_private_key(job.namespace, secret_name, key_pem,
                                                claim=job.claim, known=secret,
                                                store=job.secrets)
    except ownership.SecretConflictError as exc:  # claimed by another in between
        await _secret_conflict(job, exc)
    except writer.SecretWriteError as exc:
        await job.recorder.ready(False, "SecretWriteFailed", str(exc), event="Warning",
                                 lastError=str(exc))
        raise Retry(str(exc), job.delay()) from exc
    if job.handoff is not None:
        job.handoff.put(job.namespace, secret_name, staged.secret)


def _violation_field(field: str | None) -> str:
    """The template path the refusal is about (``spec`` when the generator names none)."""
    return field or "spec"


async def place_order(job: OrderJob, client: acme.AcmeClient, req: request.OrderRequest,
                      access: dict[str, Any], mode: str, profile: str | None,
                      may_exist: bool = False) -> acme.Order:
    """Step 4: newOrder, with the order URL (and ``access``, see :mod:`.ca_access`) recorded
    before anything else can happen.

    ``may_exist``: an earlier attempt sent newOrder (``status.newOrderAt``) without recording
    its answer, so an order the CA created then is adopted rather than duplicated (see
    :mod:`.adopt`).
    """
    if may_exist:
        with metrics.time_acme("adopt-lookup"):
            found = await adopt.find_unrecorded_order(client, req)
        if found is not None:
            await job.recorder.record(orderURL=found.url, orderState=found.status,
                                      phase=c.Phase.ORDERED, accountURL=client.account_url,
                                      caAccess=access, mode=mode, newOrderAt=None)
            job.recorder.post_event("Normal", "OrderAdopted",
                                    f"continuing STAR order {found.url}, placed by an earlier "
                                    "attempt whose answer was not recorded")
            return found
    if mode == capabilities.NATIVE:
        renewal = acme.AutoRenewal(end_date=req.end_date, lifetime=req.lifetime,
                                   start_date=req.start_date,
                                   lifetime_adjust=req.lifetime_adjust,
                                   allow_certificate_get=True)
        await job.recorder.record(newOrderAt=timeutil.format_time(timeutil.utcnow()))
        with metrics.time_acme("new-order"):
            order = await client.new_order(list(req.names), renewal)
    else:
        await job.recorder.flush()  # the staged key's record, before anything is ordered
        wanted = req.lifetime + (req.lifetime_adjust or 0)
        order = await series_renewal.place(
            client, list(req.names), profile=profile, replaces=None,
            not_after=series_renewal.not_after_for(req.end_date, wanted, timeutil.utcnow()),
            who=f"{job.namespace}/{job.name}")
    await job.recorder.record(orderURL=order.url, orderState=order.status, phase=c.Phase.ORDERED,
                              accountURL=client.account_url, caAccess=access, mode=mode,
                              newOrderAt=None)
    return order


async def ensure_certificate(job: OrderJob, policy: TemplatePolicy, ca_pem: bytes | None,
                             req: request.OrderRequest, star_url: str, *,
                             new: bool = False) -> dict[str, Any] | None:
    """Step 6: the owned StarCertificate (created once; its spec kept in line).

    Returns the object as it was before this call (None if just created): its status tells
    whether the Secret already holds a certificate. ``new``: the order became valid in this
    attempt, so the StarCertificate almost surely does not exist yet and is created without a
    look first (a 409, from an attempt cut off after its create, then reads it); a valid order
    resumed reads first, as it almost surely exists.
    """
    import kopf  # local: keeps this module importable without kopf's runtime for unit tests

    spec: dict[str, Any] = {
        "starCertificateURL": star_url, "secretName": job.spec["secretName"],
        "privateKeySecretRef": {"name": job.spec["secretName"], "key": c.TLS_KEY},
        "dnsNames": sorted(req.names), "endDate": timeutil.format_time(req.end_date),
        "issuerName": policy.name}
    if ca_pem:
        spec["caBundle"] = ca_pem.decode("ascii")
    # Created with kopf's finalizer (its daemon needs one), which kopf would otherwise add in
    # a PATCH of its own right after the create.
    body: dict[str, Any] = {"apiVersion": c.API_VERSION, "kind": c.STARCERTIFICATE_KIND,
                            "metadata": {"name": job.name, "namespace": job.namespace,
                                         "labels": {c.MANAGED_BY_LABEL: c.MANAGED_BY_VALUE},
                                         "finalizers": [c.FINALIZER]},
                            "spec": spec}
    kopf.adopt(body, owner=job.body)  # type: ignore[arg-type]
    existing = (None if new else
                await job.objects.get_object(c.STARCERTIFICATE_PLURAL, job.namespace, job.name))
    if existing is None:
        try:
            await job.objects.create_object(c.STARCERTIFICATE_PLURAL, job.namespace, body)
            return None
        except k8s.Conflict:  # it exists after all: keep its spec in line
            existing = await job.objects.get_object(c.STARCERTIFICATE_PLURAL, job.namespace,
                                                    job.name)
    if existing is not None and any(existing.get("spec", {}).get(k) != v
                                    for k, v in spec.items()):
        await job.objects.patch_object(c.STARCERTIFICATE_PLURAL, job.namespace, job.name,
                                       {"spec": spec})
    return existing


async def reconcile(job: OrderJob) -> None:
    """Bring one StarOrder as far as it can go now; raise :class:`Retry` to come back later."""
    rec = job.recorder
    ordered = rec.get("ordered") or {}
    order_url = rec.get("orderURL")
    spec = dict(job.spec)
    if order_url and rec.phase not in (c.Phase.FAILED,):
        changed = request.changed_immutable(spec, ordered)
        if changed:
            await rec.ready(False, "ImmutableFieldChanged",
                            f"{', '.join(changed)} changed after the STAR order was placed; the "
                            "existing order continues with the original values. Revert the "
                            "change, or create a new StarOrder and delete this one.",
                            event="Warning")
            spec.update(ordered)  # keep working on what was ordered
            if rec.phase in (c.Phase.VALID, c.Phase.CANCELED):
                return
    elif rec.phase == c.Phase.FAILED:
        if rec.get("observedGeneration") == job.recorder.generation:
            return  # the CA refused this order; a spec edit starts a new one
        await rec.record(phase=c.Phase.PENDING, orderURL=None, orderState=None, csr=None,
                         ordered=None, startDate=None, endDate=None, starCertificateURL=None,
                         newOrderAt=None)
        order_url = None
    if rec.phase == c.Phase.CANCELED:
        return
    job = dataclasses.replace(job, body={**job.body, "spec": spec})
    policy = await load_policy(job, spec["csrTemplateName"])
    if not policy.allows_namespace(job.namespace):
        await reject(job, "NamespaceNotAllowed", [Violation(
            "metadata.namespace", f"CsrTemplate {policy.name!r} does not allow namespace "
                                  f"{job.namespace!r} (allowed: "
                                  f"{', '.join(policy.allowed_namespaces)})")])
    if order_url and not rec.get("caAccess"):  # placed before caAccess existed: best effort
        await rec.record(caAccess=ca_access.record(policy))
    try:
        req = request.build_request(spec, timeutil.utcnow(), rec.get("endDate"))
    except (ValueError, KeyError) as exc:
        await reject(job, "SpecInvalid", [Violation("spec", str(exc))])
        raise  # unreachable
    if rec.phase == c.Phase.VALID and order_url and rec.get("mode") in capabilities.SELF_ORDERED:
        return  # the series daemon keeps it current (star_operator.series.loop), or: one only
    if rec.phase == c.Phase.VALID and order_url and delegated.csr_text(spec):
        return  # nothing to fetch here: the CSR's maker fetches from starCertificateURL
    if rec.phase == c.Phase.VALID and order_url:
        material = await _material(job, policy)
        cert = await ensure_certificate(job, policy, material.ca_pem, req,
                                        rec.get("starCertificateURL"))
        if not request.changed_immutable(job.spec, ordered):
            await ready_valid(job, cert)
        return
    may_exist = bool(rec.get("newOrderAt")) and not order_url  # see adopt: the marker
    csr = await prepare_key(job, policy, req) if not order_url else _recorded_csr(job)
    material = await _material(job, policy)
    try:
        client = await accounts.client_for(job.templates, policy, material)
        if order_url:
            mode = rec.get("mode") or capabilities.NATIVE
            order = await client.get_order(order_url)
        else:
            mode = await _mode(job, client, policy)
            order = await place_order(job, client, req, ca_access.record(policy), mode,
                                      policy.profile if mode != capabilities.NATIVE else None,
                                      may_exist)
        order = await progress_order(client, policy, material, order, csr)
        if mode in capabilities.SELF_ORDERED and order.status == "valid":
            await _first_of_series(job, policy, material, client, req, order, mode)
            return
    except (acme.AcmeError, Dns01Error) as exc:
        job.forget_material(policy)
        await _acme_failure(job, exc)
        raise  # unreachable: _acme_failure raises
    await _settle(job, policy, material, req, order)


async def _mode(job: OrderJob, client: acme.AcmeClient, policy: TemplatePolicy) -> str:
    """Native STAR where the CA offers it, else the emulated series; a profile the CA does not
    offer is refused here, before any order (the CsrTemplate says the same)."""
    caps = capabilities.Capabilities.of(await client.directory())
    problem = capabilities.profile_problem(policy.profile, caps)
    if problem:
        await job.recorder.ready(False, "InvalidProfile", problem, event="Warning")
        raise Retry(problem, RECHECK_DELAY)
    return capabilities.ORDINARY if job.spec.get("star") is False else caps.mode


async def _first_of_series(job: OrderJob, policy: TemplatePolicy,
                           material: accounts.CaMaterial, client: acme.AcmeClient,
                           req: request.OrderRequest, order: acme.Order, mode: str) -> None:
    """The first certificate of an emulated series: installed here, the rest by the daemon
    (mode ``Ordinary``: the only one)."""
    ctx = series_renewal.SeriesContext(
        job=job, policy=policy, material=material, client=client, req=req,
        csr=delegated.ordered_csr(job.spec, job.recorder.get("ordered")),
        single=mode == capabilities.ORDINARY)
    if not order.certificate:
        raise Retry(f"order {order.url} is valid but has no certificate URL yet", job.delay())
    try:
        cert = await install.install(client, order.certificate, ctx.target,
                                     clock_skew=ctx.clock_skew)
    except CycleError as exc:
        await job.recorder.ready(False, exc.reason, exc.message, event="Warning",
                                 lastError=exc.message)
        raise Retry(exc.message, job.delay()) from exc
    series = ctx.series
    if series.get("certificateURL") != order.certificate:  # else: settled before a restart
        series = await series_renewal.settle(ctx, cert, order, renewed=False)
    note = None if ctx.single else series_renewal.lifetime_note(req, cert)
    what = " (certificate only: the key stays with the CSR's maker)" if ctx.csr else ""
    if ctx.single:
        message = (f"one ordinary certificate (spec.star false), serial {cert.serial}, in "
                   f"Secret {job.spec['secretName']}{what}; nothing is ordered after it")
        await job.recorder.record(certificateURL=order.certificate)
    else:
        message = (f"emulated STAR series: certificate 1 (serial {cert.serial}) in Secret "
                   f"{job.spec['secretName']}{what}; next ordered at "
                   f"{series.get('renewAt') or 'never (end-date)'} "
                   f"({series.get('renewBasis')})")
    if note:
        job.recorder.post_event("Warning", "LifetimeMismatch", note)
        message += f"; {note}"
    await job.recorder.ready(True, readiness.ISSUED, message, event="Normal", phase=c.Phase.VALID,
                             lastError=None, certificateName=job.name)


def _recorded_csr(job: OrderJob) -> x509.CertificateSigningRequest:
    return x509.load_pem_x509_csr(job.recorder.get("csr").encode())


async def _material(job: OrderJob, policy: TemplatePolicy) -> accounts.CaMaterial:
    try:
        return await accounts.load_material(policy, store=job.material_store)
    except accounts.CaSettingsError as exc:
        await job.recorder.ready(False, exc.reason, exc.message, event="Warning")
        raise Retry(exc.message, job.delay()) from exc


async def _acme_failure(job: OrderJob, exc: acme.AcmeError | Dns01Error) -> None:
    """Record a CA, DNS or network failure; the recorded order is continued next attempt."""
    reason, message = failures.classify_order_error(exc)
    await job.recorder.ready(False, reason, message, event="Warning", lastError=message)
    raise Retry(f"{reason}: {message}", job.delay()) from exc


async def _settle(job: OrderJob, policy: TemplatePolicy, material: accounts.CaMaterial,
                  req: request.OrderRequest, order: acme.Order) -> None:
    rec = job.recorder
    if order.status == "valid" and order.star_certificate and delegated.csr_text(job.spec):
        message = (f"STAR order valid; the holder of the CSR's key fetches every certificate "
                   f"from {order.star_certificate} (no key here, so no Secret is written)")
        await rec.ready(True, DELEGATED, message, event="Normal",
                        starCertificateURL=order.star_certificate, orderState=order.status,
                        phase=c.Phase.VALID, lastError=None)
    elif order.status == "valid" and order.star_certificate:
        await follow_star_certificate(job, policy, material.ca_pem, req, order,
                                      order.star_certificate)
    elif order.status in ("invalid", "canceled"):
        detail = str(order.error) if order.error else f"order is {order.status} at the CA"
        phase = c.Phase.FAILED if order.status == "invalid" else c.Phase.CANCELED
        await rec.ready(False, "OrderInvalid" if phase == c.Phase.FAILED else "OrderCanceled",
                        detail, event="Warning", phase=phase, orderState=order.status)
    elif order.status == "valid":
        await rec.ready(False, "NoStarCertificate", "the CA's order is valid but has no "
                                                    "star-certificate URL (not a STAR order?)",
                        event="Warning", phase=c.Phase.FAILED, orderState=order.status)
    else:
        await rec.record(orderState=order.status)
        raise Retry(f"order still {order.status}", job.delay())


async def follow_star_certificate(job: OrderJob, policy: TemplatePolicy, ca_pem: bytes | None,
                                  req: request.OrderRequest, order: acme.Order,
                                  star_url: str) -> None:
    """A valid STAR order (at the CA, or Order1 at a delegation front end) handed to the
    StarOrder's StarCertificate, which fetches from its star-certificate URL ``star_url``;
    Ready then follows that StarCertificate.

    Nothing is written here when the StarCertificate is new: its first Ready makes this
    StarOrder ``Valid`` (:class:`~star_operator.ordering.readiness.Promotion`: the phase, the
    URL and Ready in one write; a ``Valid`` written here first, so that it could never
    overwrite that Ready, was one more API request per new order). One that exists already (an
    attempt cut off after creating it) is followed here at once. No Event of its own: the
    ``Issued`` Event of the first certificate follows within a fetch (or a Warning saying why
    not), and the order's URL is in status."""
    cert = await ensure_certificate(job, policy, ca_pem, req, star_url, new=True)
    if cert is not None:
        await ready_valid(job, cert, starCertificateURL=star_url, orderState=order.status,
                          phase=c.Phase.VALID, lastError=None, certificateName=job.name)


async def ready_valid(job: OrderJob, cert: Mapping[str, Any] | None, **fields: Any) -> None:
    """Ready of a valid order follows its StarCertificate (see :mod:`.readiness`); ``fields``
    go with it (those that make an ``Ordered`` StarOrder ``Valid``)."""
    ready, reason, message = readiness.order_ready(job.name, job.spec["secretName"],
                                                   readiness.certificate_ready(cert))
    event = "Normal" if ready else None if reason == readiness.WAITING else "Warning"
    # notAfter: the StarCertificate's alone; one a StarOrder kept from an earlier version
    # (which copied it at every rotation) would only go stale, so it goes
    await job.recorder.ready(ready, reason, message, event=event, notAfter=None, **fields)

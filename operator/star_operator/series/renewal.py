"""One certificate of an emulated series, as resumable steps recorded in ``status.series``.

Steps of a renewal, each recorded before the next starts, so a restart continues instead of
ordering twice: (1) key and CSR (a new key under ``rotationPolicy: Always``, staged in the
Secret; the current CSR under ``Never``) → ``series.next.csr``; (2) newOrder with the profile
and, where the CA has ARI, ``replaces`` → ``series.next.orderURL``; (3) dns-01 and finalize
(authorizations the CA still holds as valid are skipped); (4) download, verify, install.
The first certificate of a series is ordered by the StarOrder's issuance steps and joins here at
:func:`settle`.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from star_operator import acme, metrics, timeutil
from star_operator.backoff import Rng
from star_operator.csr_template import TemplateRequestError, check_csr, generate_key_and_csr
from star_operator.ordering import accounts, delegated, request
from star_operator.ordering.progress import progress_order
from star_operator.ordering.status import StatusRecorder
from star_operator.ordering.templates import TemplatePolicy
from star_operator.renewal.fetcher import CycleError
from star_operator.secrets import writer
from star_operator.series import install, timing
from star_operator.verify import VerifiedCertificate

if TYPE_CHECKING:
    from star_operator.ordering.issuance import OrderJob

log = logging.getLogger(__name__)

ALWAYS = "Always"
NEVER = "Never"


@dataclasses.dataclass(frozen=True)
class SeriesContext:
    """What one step of a series needs; built per attempt by the loop or the issuance."""

    job: "OrderJob"
    policy: TemplatePolicy
    material: accounts.CaMaterial
    client: acme.AcmeClient
    req: request.OrderRequest
    timing: timing.SeriesTiming = timing.SeriesTiming()
    clock_skew: float = 5.0
    rng: Rng | None = None
    #: True once the StarOrder is being deleted: no order may be placed from then on.
    stopped: Any = False
    #: The outside CSR (``spec.csr``, see :mod:`~star_operator.ordering.delegated`): every
    #: certificate is ordered with it and installed without a key. None: the operator's keys.
    csr: str | None = None
    #: ``spec.star: false``: this certificate is the only one (nothing is planned after it).
    single: bool = False

    @property
    def target(self) -> install.Target:
        return install.Target(namespace=self.job.namespace, order_name=self.job.name,
                              secret_name=self.job.spec["secretName"], names=self.req.names,
                              issuer_name=self.policy.name, ca_pem=self.material.ca_pem,
                              claim=self.job.claim,
                              public_key=delegated.public_key(self.csr) if self.csr else None)

    @property
    def series(self) -> dict[str, Any]:
        return dict(self.job.recorder.get("series") or {})

    async def record_series(self, **fields: Any) -> None:
        await record_series(self.job.recorder, **fields)


async def record_series(recorder: StatusRecorder, **fields: Any) -> None:
    """Merge ``fields`` into ``status.series``; None removes one (a JSON merge patch)."""
    await recorder.record(series=fields)


def rotation_policy(spec: Mapping[str, Any]) -> str:
    return NEVER if spec.get("rotationPolicy") == NEVER else ALWAYS


async def window_of(ctx: SeriesContext, leaf: x509.Certificate
                    ) -> tuple[timing.Window | None, float | None, str | None]:
    """The CA's ARI window for ``cert`` (None when it has no ARI or cannot name the cert).

    A failing ARI request falls back to the lifetime fraction: ARI improves timing, it must
    never stop a renewal.
    """
    try:
        cid = acme.cert_id(leaf)
    except ValueError:
        return None, None, None
    try:
        if not (await ctx.client.directory()).renewal_info:
            return None, None, cid  # no ARI: nothing asked, nothing timed
        with metrics.time_acme("renewal-info"):
            info = await ctx.client.renewal_info(leaf)
    except acme.AcmeError as exc:
        log.warning("ARI for serial %x failed, timing by lifetime instead: %s",
                    leaf.serial_number, exc)
        return None, None, cid
    if info is None:
        return None, None, cid
    return timing.Window(info.start, info.end), info.retry_after, cid


def plan_fields(leaf: x509.Certificate, window: timing.Window | None,
                retry_after: float | None, cid: str | None, now: datetime.datetime,
                ctx: SeriesContext) -> dict[str, Any]:
    """The ``status.series`` fields that say when the successor of ``leaf`` is ordered."""
    not_before, not_after = leaf.not_valid_before_utc, leaf.not_valid_after_utc
    chosen = timing.renewal_moment(not_before, not_after, now=now, window=window,
                                   end_date=ctx.req.end_date, timing=ctx.timing, rng=ctx.rng)
    fields: dict[str, Any] = {
        "certID": cid, "renewAt": timeutil.format_time(chosen.renew_at),
        "renewBasis": chosen.basis, "final": chosen.renew_at is None,
        "window": None if window is None else {"start": timeutil.format_time(window.start),
                                               "end": timeutil.format_time(window.end)},
        "ariCheckAt": None}
    if window is not None and chosen.renew_at is not None:
        fields["ariCheckAt"] = timeutil.format_time(timing.ari_recheck(
            now, retry_after, not_after - not_before, ctx.timing))
    return fields


def lifetime_note(req: request.OrderRequest, cert: VerifiedCertificate) -> str | None:
    """Say so when the CA's certificates live much longer (or shorter) than the order asked.

    A 90-day certificate is not a one-hour STAR certificate: deleting the StarOrder then ends
    the delegation only through revocation, not by expiry within one lifetime.
    """
    wanted = req.lifetime + (req.lifetime_adjust or 0)
    issued = int((cert.not_after - cert.not_before).total_seconds())
    if abs(issued - wanted) <= max(0.25 * wanted, 60):
        return None
    return (f"the CA issues certificates valid {issued}s, the StarOrder asks for {wanted}s "
            "(choose spec.acme.profile on the CsrTemplate to match)")


#: How many unexpired certificates of a series are remembered for revocation on deletion; past
#: this the oldest are forgotten (a CA with week-long certificates and hourly forced renewals).
MAX_OUTSTANDING = 20


def outstanding(previous: list[Mapping[str, Any]], url: str | None, cert: VerifiedCertificate,
                now: datetime.datetime) -> list[dict[str, Any]]:
    """The series' certificates that have not expired yet, newest last.

    A superseded certificate of a long-lived profile is still valid for whoever copied its key,
    so deletion revokes all of these, not only the current one.
    """
    alive = [dict(e) for e in previous
             if (timeutil.parse_time(e.get("notAfter")) or now) > now and e.get("url") != url]
    alive.append({"url": url, "serial": cert.serial,
                  "notAfter": timeutil.format_time(cert.not_after)})
    return alive[-MAX_OUTSTANDING:]


async def settle(ctx: SeriesContext, cert: VerifiedCertificate, order: acme.Order,
                 *, renewed: bool) -> dict[str, Any]:
    """Record an installed certificate and the plan for its successor; returns the series."""
    now = timeutil.utcnow()
    previous = ctx.series
    fields: dict[str, Any] = ({"certID": None, "renewAt": None, "renewBasis": None,
                               "final": True, "window": None, "ariCheckAt": None}
                              if ctx.single else
                              plan_fields(cert.leaf, *await window_of(ctx, cert.leaf), now,
                                          ctx))
    end = ctx.req.end_date
    fields.update(
        outstanding=outstanding(previous.get("outstanding") or [], order.certificate,
                                cert, now),
        certificates=int(previous.get("certificates") or 0) + 1, orderURL=order.url,
        certificateURL=order.certificate, serial=cert.serial,
        notBefore=timeutil.format_time(cert.not_before),
        notAfter=timeutil.format_time(cert.not_after),
        issuedLifetime=int((cert.not_after - cert.not_before).total_seconds()),
        runsPastEndDate=bool(fields["final"] and cert.not_after > end), next=None,
        failures=0, lastError=None, retryAt=None)
    renewed_csr = (previous.get("next") or {}).get("csr")
    if renewed_csr:  # the current key's CSR, for rotationPolicy Never
        fields["csr"] = renewed_csr
    await ctx.job.recorder.record(series=fields, orderURL=order.url, orderState=order.status,
                                  notAfter=fields["notAfter"])  # one PATCH per certificate
    labels = (ctx.job.namespace, ctx.job.name)
    series = metrics.objects.certificate(*labels)
    series.not_after, series.not_before = cert.not_after.timestamp(), cert.not_before.timestamp()
    if fields["renewAt"]:
        metrics.series_next_renewal.labels(*labels).set(
            timeutil.parse_time(str(fields["renewAt"])).timestamp())  # type: ignore[union-attr]
    if renewed:
        metrics.series_renewals.labels(*labels).inc()
    return ctx.series


async def _next_csr(ctx: SeriesContext) -> str:
    """Step 1: the CSR of the next certificate (a new staged key unless rotationPolicy Never)."""
    job = ctx.job
    if ctx.csr:  # the key is the CSR maker's: there is no other
        return ctx.csr
    if rotation_policy(job.spec) == NEVER:  # the key the Secret holds now, not the first one
        return str(ctx.series.get("csr") or job.recorder.get("csr"))
    try:
        generated = generate_key_and_csr(ctx.policy.template, ctx.policy.domains,
                                         ctx.req.names, ctx.req.key_type, ctx.req.subject)
    except TemplateRequestError as exc:
        raise CycleError("TemplateViolation", exc.reason) from exc
    violations = check_csr(generated.csr, ctx.policy.template, ctx.policy.domains)
    if violations:
        raise CycleError("TemplateViolation", request.format_violations(violations))
    try:
        await writer.stage_private_key(job.namespace, job.spec["secretName"],
                                       generated.key_pem, claim=job.claim)
    except writer.SecretConflictError as exc:
        raise CycleError("SecretConflict", str(exc)) from exc
    except writer.SecretWriteError as exc:
        raise CycleError("SecretWriteFailed", str(exc)) from exc
    return generated.csr.public_bytes(serialization.Encoding.PEM).decode()


def not_after_for(end_date: datetime.datetime, expected_lifetime: float,
                  now: datetime.datetime) -> datetime.datetime | None:
    """The ``notAfter`` to ask for: the end-date, when a certificate ordered now would
    otherwise outlive it (the last one of the series); None otherwise."""
    if now + datetime.timedelta(seconds=expected_lifetime) > end_date:
        return end_date
    return None


async def place(client: acme.AcmeClient, names: list[str], *, profile: str | None,
                replaces: str | None, not_after: datetime.datetime | None,
                who: str) -> acme.Order:
    """newOrder for one certificate of a series, with two bounded fallbacks (never a loop):

    - ``alreadyReplaced``: an earlier attempt's order (whose answer was lost) took the
      ``replaces`` slot: order once more without ``replaces``;
    - ``malformed`` with ``notAfter``: the CA cannot shorten certificates (Let's Encrypt and
      star-ca refuse the field): order once more without it; the last certificate then runs
      past the end-date, and ``status.series.runsPastEndDate`` says so.
    """
    with metrics.time_acme("new-order"):
        try:
            return await client.new_order(names, None, profile=profile, replaces=replaces,
                                           not_after=not_after)
        except acme.AcmeProblem as problem:
            if problem.short_type == "alreadyReplaced" and replaces:
                replaces, dropped = None, "replaces"
            elif problem.short_type == "malformed" and not_after is not None:
                not_after, dropped = None, "notAfter"
            else:
                raise
            log.warning("%s: %s; ordering again without %s", who, problem, dropped)
            return await client.new_order(names, None, profile=profile, replaces=replaces,
                                          not_after=not_after)


async def renew(ctx: SeriesContext) -> tuple[VerifiedCertificate, acme.Order]:
    """Run the renewal steps from wherever the record says they stopped."""
    nxt = dict(ctx.series.get("next") or {})
    if not nxt.get("csr"):
        nxt = {"csr": await _next_csr(ctx)}
        await ctx.record_series(next=nxt)
    if nxt.get("orderURL"):
        order = await ctx.client.get_order(nxt["orderURL"])
    else:
        if ctx.stopped:
            raise CycleError("Stopping", "the StarOrder is being deleted; no new order placed")
        directory = await ctx.client.directory()
        series = ctx.series
        order = await place(
            ctx.client, list(ctx.req.names), profile=ctx.policy.profile,
            replaces=series.get("certID") if directory.renewal_info else None,
            not_after=not_after_for(ctx.req.end_date, float(series.get("issuedLifetime") or 0),
                                    timeutil.utcnow()),
            who=f"{ctx.job.namespace}/{ctx.job.name}")
        nxt["orderURL"] = order.url
        await ctx.record_series(next=nxt)
    csr = x509.load_pem_x509_csr(nxt["csr"].encode())
    order = await progress_order(ctx.client, ctx.policy, ctx.material, order, csr)
    if order.status == "invalid":
        await ctx.record_series(next={"csr": nxt["csr"]})  # a new order next attempt, same key
        raise CycleError("OrderInvalid", str(order.error or f"order {order.url} is invalid"))
    if order.status != "valid" or not order.certificate:
        raise CycleError("OrderNotReady", f"order {order.url} is {order.status}")
    cert = await install.install(ctx.client, order.certificate, ctx.target,
                                 clock_skew=ctx.clock_skew)
    return cert, order

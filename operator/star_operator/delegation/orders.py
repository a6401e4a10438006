"""Order1 (the NDC's order at the front end), as pure functions: what a newOrder may ask for,
what Order1 looks like to the NDC, and the StarOrder that carries it in the DNO's cluster.

Order1 lives in the Delegation's ``status.pendingOrders`` until finalize, then in the StarOrder
(its request kept in an annotation, its state read back from the StarOrder's status), so the
front end holds nothing a restart could lose.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from collections.abc import Mapping, Sequence
from typing import Any

from star_ca.problems import AcmeError, problem
from star_ca.star.autorenewal import AutoRenewalError, Limits, parse_auto_renewal, rfc3339
from star_ca.wfe.identifiers import parse_identifiers
from star_operator import constants as c
from star_operator import conditions, timeutil
from star_operator.csr_template import CsrTemplate, DomainPolicy
from star_operator.csr_template.names import normalize_dns
from star_operator.csr_template.vocab import PLACEHOLDERS
from star_operator.delegation import urls
from star_operator.ordering.templates import TemplatePolicy

#: How long an unfinalized Order1 stays (RFC 8555 ``expires``); the NDC finalizes at once.
PENDING_TTL = 86400
REQUEST_ANNOTATION = f"{c.GROUP}/ndc-order-request"
CANCELED_PHASES = (c.Phase.CANCELING, c.Phase.CANCELED)
FAILED_PHASES = (c.Phase.REJECTED, c.Phase.FAILED)


@dataclasses.dataclass(frozen=True)
class Bounds:
    """What this Delegation lets its NDC ask for: the tighter of Delegation and template."""

    min_lifetime: int
    max_lifetime: int
    max_duration: int
    allow_ordinary: bool
    max_lifetime_text: str

    @classmethod
    def of(cls, delegation: Mapping[str, Any], policy: TemplatePolicy,
           min_lifetime: int = 1) -> Bounds:
        star = (delegation.get("spec") or {}).get("star") or {}
        lifetime_text = star.get("maxLifetime") or "7d"
        max_lifetime = min(timeutil.parse_duration(lifetime_text), policy.bounds.max_lifetime)
        return cls(max(min_lifetime, policy.bounds.min_lifetime), max_lifetime,
                   min(timeutil.parse_duration(star.get("maxDuration") or "365d"),
                       policy.bounds.max_duration),
                   bool(star.get("allowOrdinary", False)), f"{max_lifetime}s")


def name_allowed(name: str, template: CsrTemplate, domains: DomainPolicy) -> bool:
    """Could a CSR under this template carry ``name``: a literal of the template, or a
    client-chosen name (``*``/``**``) inside the DNO's domains."""
    if normalize_dns(name) in template.dns:
        return True
    return any(v in PLACEHOLDERS for v in template.dns) and domains.allows(name)


def parse_new_order(payload: Mapping[str, Any], bounds: Bounds, policy: TemplatePolicy,
                    now: float) -> dict[str, Any]:
    """The pending Order1 record for a newOrder payload (``delegation`` already checked)."""
    if "notBefore" in payload or "notAfter" in payload:
        raise AcmeError("malformed", "a delegated order must not carry notBefore/notAfter "
                                     "(RFC 9115 §2.3.2)")
    names = parse_identifiers(payload.get("identifiers"))
    refused = [problem("rejectedIdentifier", f"{n}: not allowed by this delegation's CSR "
                       f"template ({policy.domains.describe()})", identifier=n)
               for n in names if not name_allowed(n, policy.template, policy.domains)]
    if refused:
        raise AcmeError("rejectedIdentifier", "the order names identifiers this delegation "
                        "does not cover", status=403, subproblems=refused)
    record: dict[str, Any] = {
        "identifiers": [{"type": "dns", "value": n} for n in names],
        "expires": rfc3339(now + PENDING_TTL), "status": "ready"}
    if "auto-renewal" in payload:
        record["auto-renewal"] = _auto_renewal(payload["auto-renewal"], bounds, now)
        return record
    if not bounds.allow_ordinary:
        raise AcmeError("unauthorized", "this delegation allows only STAR orders (send an "
                                        "auto-renewal object)")
    if payload.get("allow-certificate-get") is not True:
        raise AcmeError("malformed", "a non-STAR delegated order must carry "
                                     "allow-certificate-get: true (RFC 9115 §2.3.3)")
    record["allow-certificate-get"] = True
    return record


def _auto_renewal(raw: Any, bounds: Bounds, now: float) -> dict[str, Any]:
    limits = Limits(bounds.min_lifetime, bounds.max_duration, 0, True)
    try:
        echoed = parse_auto_renewal(raw, limits, now)
    except AutoRenewalError as exc:
        raise AcmeError("malformed", str(exc)) from None
    if echoed["lifetime"] > bounds.max_lifetime:
        raise AcmeError("malformed", f"auto-renewal lifetime {echoed['lifetime']} is above "
                                     f"this delegation's maximum {bounds.max_lifetime}")
    if "lifetime-adjust" not in raw:
        del echoed["lifetime-adjust"]  # Order1 echoes what the NDC asked for, nothing added
    if echoed.get("allow-certificate-get") is not True:
        raise AcmeError("malformed", "auto-renewal allow-certificate-get must be true: the "
                                     "NDC fetches without an account at the CA (RFC 9115)")
    return echoed


def star_order_name(delegation: str, order_id: str) -> str:
    """Deterministic from the Order1 id, so a retried finalize finds, never repeats, it."""
    return f"{delegation[:240]}-{order_id}"


def star_order_manifest(delegation: Mapping[str, Any], order_id: str,
                        record: Mapping[str, Any], csr_pem: str, dns_names: Sequence[str],
                        account_url: str, order_url: str, bounds: Bounds,
                        now: datetime.datetime) -> dict[str, Any]:
    """The StarOrder of the contract: labels, annotations, owner, spec from Order1."""
    meta = delegation["metadata"]
    name = star_order_name(meta["name"], order_id)
    request = {k: record[k] for k in ("identifiers", "auto-renewal", "allow-certificate-get",
                                      "expires") if k in record}
    spec: dict[str, Any] = {"csrTemplateName": delegation["spec"]["csrTemplateName"],
                            "dnsNames": sorted(dns_names), "csr": csr_pem,
                            "secretName": f"{name}-tls"}
    auto = record.get("auto-renewal")
    if auto is not None:
        spec.update(lifetime=f"{auto['lifetime']}s", endDate=auto["end-date"])
        if auto.get("lifetime-adjust"):
            spec["lifetimeAdjust"] = f"{auto['lifetime-adjust']}s"
        if "start-date" in auto:
            spec["startDate"] = auto["start-date"]
    else:
        end = now + datetime.timedelta(seconds=bounds.max_lifetime)
        spec.update(star=False, lifetime=bounds.max_lifetime_text,
                    endDate=timeutil.format_time(end))
    return {
        "apiVersion": c.API_VERSION, "kind": c.STARORDER_KIND,
        "metadata": {
            "name": name, "namespace": meta["namespace"],
            "labels": {c.DELEGATION_LABEL: meta["name"]},
            "annotations": {c.NDC_ACCOUNT_ANNOTATION: account_url,
                            c.NDC_ORDER_ANNOTATION: order_url,
                            REQUEST_ANNOTATION: json.dumps(request, sort_keys=True)},
            "ownerReferences": [{"apiVersion": c.API_VERSION, "kind": c.DELEGATION_KIND,
                                 "name": meta["name"], "uid": meta["uid"],
                                 "controller": True, "blockOwnerDeletion": True}]},
        "spec": spec,
    }


def made_for(star_order: Mapping[str, Any], delegation: str, order_id: str) -> bool:
    """Whether the front end created this StarOrder for Order1 ``order_id`` of
    ``delegation`` (a name alone could be any StarOrder's: ``a-b`` is ``a``+``b``)."""
    meta = star_order.get("metadata") or {}
    order_url = (meta.get("annotations") or {}).get(c.NDC_ORDER_ANNOTATION) or ""
    return (meta.get("labels") or {}).get(c.DELEGATION_LABEL) == delegation \
        and order_url.endswith(f"{urls.ORDER}{delegation}/{order_id}")


def request_of(star_order: Mapping[str, Any]) -> dict[str, Any]:
    """The Order1 request a StarOrder was created for (its annotation)."""
    text = ((star_order.get("metadata") or {}).get("annotations") or {}).get(
        REQUEST_ANNOTATION) or "{}"
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _ready(star_order: Mapping[str, Any]) -> Mapping[str, Any]:
    return conditions.get_condition((star_order.get("status") or {}).get("conditions"),
                                    conditions.READY) or {}


@dataclasses.dataclass(frozen=True)
class State:
    """Order1's state as the StarOrder shows it; ``certificate`` says which URL to give:
    ``upstream`` (the CA's star-certificate URL), ``served`` (the front end's own) or None."""

    status: str
    certificate: str | None = None
    upstream_url: str | None = None
    error: dict[str, Any] | None = None
    #: False: the CA does not let the NDC GET the certificate (RFC 9115 §2.3.2's signal).
    allow_certificate_get: bool = True


def state_of(star_order: Mapping[str, Any]) -> State:
    """processing → valid / invalid / canceled, from what the operator wrote (H3's status)."""
    spec, status = star_order.get("spec") or {}, star_order.get("status") or {}
    phase = status.get("phase")
    deleting = bool((star_order.get("metadata") or {}).get("deletionTimestamp"))
    if spec.get("canceled") or phase in CANCELED_PHASES or deleting:
        return State("canceled")  # deleting: its finalizer is ending it at the CA
    if phase in FAILED_PHASES:
        cond = _ready(star_order)
        subs = [{"type": "urn:ietf:params:acme:error:badCSR",
                 "detail": f"{v.get('field')}: {v.get('message')}", "field": v.get("field")}
                for v in status.get("violations") or ()]
        detail = f"{cond.get('reason', phase)}: {cond.get('message', '')}".rstrip(": ")
        return State("invalid", error=problem("badCSR" if subs else "serverInternal",
                                              f"the DNO's order failed: {detail}",
                                              status=403 if subs else 500, subproblems=subs))
    mode = status.get("mode")
    if spec.get("star") is False or mode == c.Mode.ORDINARY:
        return State("valid", "served") if status.get("certificateURL") else State("processing")
    if mode == c.Mode.EMULATED:
        has_cert = bool((status.get("series") or {}).get("serial"))
        return State("valid", "served") if has_cert else State("processing")
    url = status.get("starCertificateURL")
    if url and phase == c.Phase.VALID:
        return State("valid", "upstream", upstream_url=url)
    return State("processing")


def without_get(state: State, ca_allows_get: bool | None) -> State:
    """RFC 9115 §2.3.2: a CA that does not offer unauthenticated GET makes the NDC's order
    useless (it has no account there); Order1 becomes ``invalid`` with
    ``allow-certificate-get: false`` instead of pointing at a URL the NDC cannot read."""
    if state.certificate != "upstream" or ca_allows_get is not False:
        return state
    return State("invalid", error=problem("unauthorized", "the CA does not allow "
                 "unauthenticated GET of STAR certificates; the NDC could not fetch them",
                 status=403), allow_certificate_get=False)


def order_json(base: str, delegation: str, order_id: str, request: Mapping[str, Any],
               state: State) -> dict[str, Any]:
    """Order1 as RFC 9115 §2.3.2/§2.3.3 show it (status, expires, identifiers, auto-renewal
    or allow-certificate-get, delegation, no authorizations, finalize, then the URL)."""
    order_url = urls.order_url(base, delegation, order_id)
    doc: dict[str, Any] = {"status": state.status}
    if "expires" in request:
        doc["expires"] = request["expires"]
    doc["identifiers"] = list(request.get("identifiers") or [])
    star = "auto-renewal" in request
    if star:
        doc["auto-renewal"] = dict(request["auto-renewal"])
        if not state.allow_certificate_get:
            doc["auto-renewal"]["allow-certificate-get"] = False
    else:
        doc["allow-certificate-get"] = True
    doc["delegation"] = urls.delegation_url(base, delegation)
    doc["authorizations"] = []
    doc["finalize"] = order_url + "/finalize"
    if state.error is not None:
        doc["error"] = state.error
    if state.status == "valid":
        if star:
            doc["star-certificate"] = state.upstream_url if state.certificate == "upstream" \
                else f"{base}{urls.STAR_CERT}{delegation}/{order_id}"
        else:
            doc["certificate"] = f"{base}{urls.CERT}{delegation}/{order_id}"
    return doc

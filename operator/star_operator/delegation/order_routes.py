"""newOrder with ``delegation``, Order1 (POST-as-GET, cancellation), finalize (RFC 9115
§2.3.2-2.3.3, RFC 8739 §3.1.2) and the account's order list."""

from __future__ import annotations

import secrets
import time
import urllib.parse
from typing import Any

import josepy as jose
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from star_ca.problems import AcmeError, problem
from star_ca.wfe.responses import json_response
from star_operator import constants as c
from star_operator import k8s, timeutil
from star_operator.csr_template import check_csr
from star_operator.delegation import binding, orders, urls
from star_operator.delegation.policy import template_policy
from star_operator.delegation.request import NdcRequest, verify_request
from star_operator.ordering.delegated import csr_names
from star_operator.ordering.templates import TemplatePolicy

RETRY_AFTER = "1"
SAN_FIELD = "extensions.subjectAltName"


def _delegation_of(acc: binding.NdcAccount, name: str) -> dict[str, Any]:
    found = acc.delegation(name)
    if found is None:
        raise AcmeError("unauthorized", "this order belongs to another account")
    return found


def _respond(request: web.Request, delegation: str, order_id: str, record: dict[str, Any],
             state: orders.State, status: int = 200) -> web.Response:
    base = urls.base_url(request)
    headers = {"Location": urls.order_url(base, delegation, order_id)}
    if state.status == "processing":
        headers["Retry-After"] = RETRY_AFTER
    return json_response(orders.order_json(base, delegation, order_id, record, state), status,
                         headers)


def _ending(delegation: dict[str, Any]) -> bool:
    """Being deleted: its orders are being canceled, so no new ones start under it."""
    return bool(delegation["metadata"].get("deletionTimestamp"))


def _expired(record: dict[str, Any], now: float) -> bool:
    expires = timeutil.parse_time(record.get("expires"))
    return expires is not None and expires.timestamp() <= now


async def new_order(request: web.Request) -> web.Response:
    v = await verify_request(request)
    acc = v.require_account()
    payload = v.json()
    wanted = payload.get("delegation")
    if not isinstance(wanted, str):
        raise AcmeError("malformed", "a delegated order needs a delegation URL (RFC 9115)")
    prefix = urls.base_url(request) + urls.DELEGATION
    found = acc.delegation(wanted[len(prefix):]) if wanted.startswith(prefix) else None
    if found is None or _ending(found):
        raise AcmeError("unknownDelegation", f"delegation {wanted!r} is not available to this "
                                             "account", status=403)
    svc = urls.svc(request)
    policy = await template_policy(svc.cluster, found)
    now = time.time()
    record = orders.parse_new_order(payload, orders.Bounds.of(found, policy,
                                                              svc.config.min_lifetime),
                                    policy, now)
    record["account"] = acc.id
    order_id = secrets.token_hex(5)
    pending = (found.get("status") or {}).get("pendingOrders") or {}
    patch: dict[str, Any] = {k: None for k, r in pending.items() if _expired(r, now)}
    patch[order_id] = record
    name = found["metadata"]["name"]
    await svc.cluster.patch_delegation_status(name, {"pendingOrders": patch})
    return _respond(request, name, order_id, record, orders.State("ready"), 201)


async def current_state(request: web.Request, delegation: dict[str, Any],
                        star_order: dict[str, Any]) -> orders.State:
    """The StarOrder's state, and for a native STAR certificate whether the CA lets the NDC
    GET it (``meta.auto-renewal.allow-certificate-get``, recorded on the CsrTemplate)."""
    state = orders.state_of(star_order)
    if state.certificate != "upstream":
        return state
    template = await urls.svc(request).cluster.csr_template(
        delegation["spec"]["csrTemplateName"]) or {}
    allows = ((template.get("status") or {}).get("autoRenewal") or {}).get(
        "allowCertificateGet")
    return orders.without_get(state, allows)


async def _lookup(request: web.Request, v: NdcRequest
                  ) -> tuple[dict[str, Any], str, dict[str, Any] | None, dict[str, Any] | None]:
    """(Delegation, order id, its StarOrder or None, its pending record or None); 404 when
    neither exists, 403 when it is another account's."""
    acc = v.require_account()
    delegation = _delegation_of(acc, request.match_info["delegation"])
    order_id = request.match_info["id"]
    name = delegation["metadata"]["name"]
    star_order = await urls.svc(request).cluster.star_order(
        orders.star_order_name(name, order_id))
    if star_order is not None and not orders.made_for(star_order, name, order_id):
        star_order = None
    if star_order is not None:
        owner = star_order["metadata"].get("annotations", {}).get(c.NDC_ACCOUNT_ANNOTATION)
        if owner != urls.account_url(urls.base_url(request), acc.id):
            raise AcmeError("unauthorized", "this order belongs to another account")
        return delegation, order_id, star_order, None
    record = ((delegation.get("status") or {}).get("pendingOrders") or {}).get(order_id)
    if record is None or _expired(record, time.time()):
        raise AcmeError("malformed", "no such order", status=404)
    if record.get("account") != acc.id:
        raise AcmeError("unauthorized", "this order belongs to another account")
    return delegation, order_id, None, record


async def order(request: web.Request) -> web.Response:
    """POST-as-GET (the StarOrder's state is read each time: this is the poll), or
    ``{"status": "canceled"}``: ``spec.canceled`` on the StarOrder ends it at the CA."""
    v = await verify_request(request)
    delegation, order_id, star_order, record = await _lookup(request, v)
    name = delegation["metadata"]["name"]
    cluster = urls.svc(request).cluster
    if star_order is not None:
        record = orders.request_of(star_order)
        state = await current_state(request, delegation, star_order)
    else:
        assert record is not None
        state = orders.State(record.get("status", "ready"))
    if not v.post_as_get:
        if v.json().get("status") != "canceled":
            raise AcmeError("malformed", "an order can only be updated with "
                                         '{"status": "canceled"}')
        if "auto-renewal" not in record:
            raise AcmeError("autoRenewalCancellationInvalid", "only STAR orders are canceled; "
                            "ask the domain owner to revoke an ordinary certificate")
        if state.status != "canceled":
            if star_order is not None:
                await cluster.patch_star_order(star_order["metadata"]["name"],
                                               {"spec": {"canceled": True}})
            else:
                await cluster.patch_delegation_status(
                    name, {"pendingOrders": {order_id: {**record, "status": "canceled"}}})
        state = orders.State("canceled")
    return _respond(request, name, order_id, record, state)


def _parse_csr(payload: dict[str, Any]) -> tuple[x509.CertificateSigningRequest, str]:
    try:
        der = jose.decode_b64jose(payload["csr"])
        csr = x509.load_der_x509_csr(der)
    except Exception:  # missing, not base64url, not DER: all one answer to the client
        raise AcmeError("badCSR", "csr must be a base64url DER PKCS#10 request") from None
    return csr, csr.public_bytes(serialization.Encoding.PEM).decode()


def csr_problem(csr: x509.CertificateSigningRequest, record: dict[str, Any],
                policy: TemplatePolicy) -> AcmeError | None:
    """Every way the CSR departs from Order1 and the template, one subproblem each (the
    template field named in ``field``, the name in ``identifier``); None if it conforms."""
    ordered = {i["value"] for i in record.get("identifiers") or ()}
    given = csr_names(csr)
    subs = [problem("rejectedIdentifier", f"{SAN_FIELD}.DNS: {n} is in the CSR but not in "
                    "the order", identifier=n) for n in sorted(given - ordered)]
    subs += [problem("rejectedIdentifier", f"{SAN_FIELD}.DNS: {n} is in the order but not in "
                     "the CSR", identifier=n) for n in sorted(ordered - given)]
    for violation in check_csr(csr, policy.template, policy.domains):
        kind = "rejectedIdentifier" if violation.field.startswith(SAN_FIELD) else "badCSR"
        subs.append({**problem(kind, str(violation)), "field": violation.field})
    if not subs:
        return None
    kinds = {s["type"].rsplit(":", 1)[1] for s in subs}
    top = "rejectedIdentifier" if kinds == {"rejectedIdentifier"} else "badCSR"
    return AcmeError(top, "the CSR does not follow the delegation's CSR template: "
                     + "; ".join(s["detail"] for s in subs), status=403, subproblems=subs)


async def finalize(request: web.Request) -> web.Response:
    """Template check, then the StarOrder (deterministic name: a retry finds the first)."""
    v = await verify_request(request)
    delegation, order_id, star_order, record = await _lookup(request, v)
    name = delegation["metadata"]["name"]
    if star_order is not None:  # finalized before (a retry, or an answer lost on the way)
        return _respond(request, name, order_id, orders.request_of(star_order),
                        await current_state(request, delegation, star_order))
    assert record is not None
    if _ending(delegation):
        raise AcmeError("unauthorized", "the domain owner is ending this delegation")
    if record.get("status") != "ready":
        raise AcmeError("orderNotReady", f"the order is {record.get('status')}")
    csr, pem = _parse_csr(v.json())
    svc = urls.svc(request)
    policy = await template_policy(svc.cluster, delegation)
    refusal = csr_problem(csr, record, policy)
    if refusal is not None:
        raise refusal
    base = urls.base_url(request)
    acc = v.require_account()
    manifest = orders.star_order_manifest(
        delegation, order_id, record, pem, sorted(csr_names(csr)),
        urls.account_url(base, acc.id), urls.order_url(base, name, order_id),
        orders.Bounds.of(delegation, policy, svc.config.min_lifetime), timeutil.utcnow())
    try:
        created = await svc.cluster.create_star_order(manifest)
    except k8s.Conflict:  # a concurrent finalize of the same order won the race
        created = await svc.cluster.star_order(manifest["metadata"]["name"]) or manifest
    await svc.cluster.patch_delegation_status(name, {"pendingOrders": {order_id: None}})
    return _respond(request, name, order_id, orders.request_of(created),
                    orders.state_of(created))


#: The query parameter of the next page: the last order URL of the page before (quoted).
CURSOR = "after"


def orders_page(found: list[str], after: str | None, size: int) -> tuple[list[str], bool]:
    """One page of the sorted order URLs: those after ``after`` (a URL, not an index, so an
    order created or gone between two pages neither repeats nor hides another), at most
    ``size``; and whether more follow."""
    rest = [u for u in sorted(set(found)) if after is None or u > after]
    return rest[:size], len(rest) > size


async def orders_list(request: web.Request) -> web.Response:
    """``{"orders": [url, ...]}``: the account's Order1s, pending and finalized, a page at a
    time (RFC 8555 §7.1.2.1): ``Link: <...?after=...>;rel="next"`` while more follow."""
    v = await verify_request(request)
    acc = v.require_account()
    if acc.id != request.match_info["id"]:
        raise AcmeError("unauthorized", "the kid account does not own this URL")
    base, cluster, now = urls.base_url(request), urls.svc(request).cluster, time.time()
    account_url = urls.account_url(base, acc.id)
    found: list[str] = []
    for d in acc.delegations:
        name = d["metadata"]["name"]
        for so in await cluster.star_orders(name):
            ann = so["metadata"].get("annotations") or {}
            if ann.get(c.NDC_ACCOUNT_ANNOTATION) == account_url:
                found.append(ann.get(c.NDC_ORDER_ANNOTATION, ""))
        for oid, rec in ((d.get("status") or {}).get("pendingOrders") or {}).items():
            if rec.get("account") == acc.id and not _expired(rec, now):
                found.append(urls.order_url(base, name, oid))
    after = request.query.get(CURSOR)
    if after is not None and not after.startswith(base + urls.ORDER):
        raise AcmeError("malformed", f"{CURSOR} must be an order URL of this server")
    page, more = orders_page([u for u in found if u], after, urls.svc(request).config
                             .orders_page_size)
    response = json_response({"orders": page})
    if more:
        query = urllib.parse.urlencode({CURSOR: page[-1]})
        response.headers.add("Link", f'<{account_url}/orders?{query}>;rel="next"')
    return response

"""newAccount with External Account Binding, the account object with ``delegations``, the
delegation list and delegation objects (RFC 8555 §7.3, RFC 9115 §2.3.1)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from star_ca.problems import AcmeError
from star_ca.wfe.accounts import public_jwk, thumbprint, validate_contacts
from star_ca.wfe.responses import json_response
from star_operator.delegation import binding, eab, urls
from star_operator.delegation.policy import template_policy
from star_operator.delegation.request import verify_request


def account_json(base: str, account: binding.NdcAccount) -> dict[str, Any]:
    acc_url = urls.account_url(base, account.id)
    return {"status": account.status, "contact": list(account.contact),
            "termsOfServiceAgreed": True, "orders": acc_url + "/orders",
            "delegations": acc_url + "/delegations"}


def _response(request: web.Request, account: binding.NdcAccount, status: int) -> web.Response:
    base = urls.base_url(request)
    return json_response(account_json(base, account), status,
                         {"Location": urls.account_url(base, account.id)})


async def new_account(request: web.Request) -> web.Response:
    """An existing key gets its account back (RFC 8555 §7.3.1); a new key needs a binding."""
    v = await verify_request(request, "jwk")
    payload = v.json()
    cluster = urls.svc(request).cluster
    account_id = thumbprint(v.verified.key)
    existing = await binding.find(cluster, account_id)
    if existing is not None:
        if existing.status != "valid":
            raise AcmeError("unauthorized", f"the account for this key is {existing.status}")
        return _response(request, existing, 200)
    if payload.get("onlyReturnExisting") is True:
        raise AcmeError("accountDoesNotExist", "no account exists for this key")
    contact = validate_contacts(payload.get("contact", []))
    base = urls.base_url(request)
    proof = eab.parse(payload.get("externalAccountBinding"), base + urls.NEW_ACCOUNT,
                      v.verified.key)
    account = await binding.bind(cluster, proof, account_id, public_jwk(v.verified.key),
                                 contact, urls.account_url(base, account_id))
    return _response(request, account, 201)


def _own(request: web.Request, account: binding.NdcAccount) -> None:
    if account.id != request.match_info["id"]:
        raise AcmeError("unauthorized", "the kid account does not own this URL")


async def account(request: web.Request) -> web.Response:
    """POST-as-GET, contact update, or deactivation (written to every bound Delegation)."""
    v = await verify_request(request)
    acc = v.require_account()
    _own(request, acc)
    if not v.post_as_get:
        payload = v.json()
        changes: dict[str, Any] = {}
        if "status" in payload:
            if payload["status"] != "deactivated":
                raise AcmeError("malformed", "account status can only be set to deactivated")
            changes["status"] = "deactivated"
        if "contact" in payload:
            changes["contact"] = validate_contacts(payload["contact"])
        if changes:
            await binding.update(urls.svc(request).cluster, acc, **changes)
            acc = binding.NdcAccount(acc.id, acc.jwk, changes.get("status", acc.status),
                                     tuple(changes.get("contact", acc.contact)),
                                     acc.delegations)
    return _response(request, acc, 200)


async def delegations(request: web.Request) -> web.Response:
    """``{"delegations": [url, ...]}``: exactly the Delegations bound to this account."""
    v = await verify_request(request)
    acc = v.require_account()
    _own(request, acc)
    base = urls.base_url(request)
    names = sorted(d["metadata"]["name"] for d in acc.delegations)
    return json_response({"delegations": [urls.delegation_url(base, n) for n in names]})


async def delegation(request: web.Request) -> web.Response:
    """The delegation object: ``csr-template`` (RFC 9115 §4) and optional ``cname-map``."""
    v = await verify_request(request)
    acc = v.require_account()
    found = acc.delegation(request.match_info["name"])
    if found is None:
        raise AcmeError("unknownDelegation", "this delegation is not available to this "
                                             "account", status=403)
    policy = await template_policy(urls.svc(request).cluster, found)
    doc: dict[str, Any] = {"csr-template": policy.template.to_dict()}
    cname_map = (found.get("spec") or {}).get("cnameMap")
    if cname_map:
        doc["cname-map"] = dict(cname_map)
    return json_response(doc)

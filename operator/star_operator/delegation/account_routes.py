"""newAccount with External Account Binding, the account object with ``delegations``, the
delegation list and delegation objects (RFC 8555 §7.3, RFC 9115 §2.3.1)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from star_ca.problems import AcmeError
from star_ca.wfe.accounts import parse_key_change, public_jwk, thumbprint, validate_contacts
from star_ca.wfe.responses import json_response
from star_operator import k8s
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
    existing = await binding.find_by_key(cluster, account_id)
    if existing is not None:
        if existing.status != "valid":
            raise AcmeError("unauthorized", f"the account for this key is {existing.status}")
        return _response(request, existing, 200)
    if payload.get("onlyReturnExisting") is True:
        raise AcmeError("accountDoesNotExist", "no account exists for this key")
    if await binding.find(cluster, account_id) is not None:
        # an account registered with this key and moved to another by keyChange: its id is
        # this key's thumbprint, so a new account with it would share the id and the URL
        raise AcmeError("unauthorized", "this key was an account's key before a key change; "
                                        "register with a new key")
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


async def key_change(request: web.Request) -> web.Response:
    """RFC 8555 §7.3.5: the inner JWS checked by star-ca's own code
    (:func:`star_ca.wfe.accounts.parse_key_change`), then ``oldKey`` against the account's
    current key and the new key against every account here (409 with its Location). The
    account's id, URL and bindings stay; ``thumbprint`` and ``jwk`` change on every Delegation
    it is bound to (:func:`binding.update`: a concurrent change makes this one re-read, so a
    second keyChange from the same old key finds that key no longer current)."""
    v = await verify_request(request)
    acc = v.require_account()
    change = parse_key_change(v.json(), v.verified.header)
    cluster = urls.svc(request).cluster
    new_thumb = thumbprint(change.new_key)
    for _ in range(binding.BIND_ATTEMPTS):
        if thumbprint(change.old_key) != acc.thumbprint:
            raise AcmeError("malformed", "keyChange oldKey is not the account's current key")
        holder = await binding.find_by_key(cluster, new_thumb)
        if holder is not None:
            raise AcmeError("malformed", "the new key is already used by an account",
                            status=409, headers={"Location": urls.account_url(
                                urls.base_url(request), holder.id)})
        try:
            await binding.update(cluster, acc, thumbprint=new_thumb,
                                 jwk=public_jwk(change.new_key))
        except k8s.Conflict:
            reread = await binding.find(cluster, acc.id)
            if reread is None or reread.status != "valid":
                raise AcmeError("unauthorized", "the account changed meanwhile and is no "
                                                "longer valid") from None
            acc = reread
            continue
        return _response(request, binding.NdcAccount(
            acc.id, public_jwk(change.new_key), acc.status, acc.contact, acc.delegations), 200)
    raise AcmeError("serverInternal", "the account's Delegations changed while changing its "
                    "key; retry", status=503, headers={"Retry-After": "1"})


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

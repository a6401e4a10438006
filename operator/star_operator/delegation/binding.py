"""NDC accounts, kept where the DNO can see them: in the status of the Delegations they are
bound to (``status.account``).

An account's id is the RFC 7638 thumbprint of the key it registered with, and its URL
(``status.account.url``) ends in that id; ``thumbprint`` and ``jwk`` are its current key, which
a keyChange (RFC 8555 §7.3.5) replaces while the id, the URL and the bindings stay. Finding the
account of a request is a scan of this namespace's Delegations, with nothing stored elsewhere.

An account bound to several Delegations has one record on each. The first of them by name is
the record of record: a change (keyChange, contact, deactivation) writes it first, with the
Delegation's resourceVersion as precondition (the commit point: of two concurrent changes one
loses with a 409 and re-reads), then the others; a lookup that finds another one disagreeing
(a change interrupted half-way) copies the first one's onto it. A key id binds ONE account
key, the first one presented with a valid MAC: a leaked MAC key cannot be used to bind a second
account to a Delegation already in use (the DNO rotates by a new key id).
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Sequence
from typing import Any, cast

import josepy as jose

from star_ca.problems import AcmeError
from star_operator import k8s, timeutil
from star_operator.delegation import eab, urls
from star_operator.delegation.cluster import Cluster


@dataclasses.dataclass(frozen=True)
class NdcAccount:
    """An account and the Delegations it may use (the bodies as read)."""

    id: str
    jwk: dict[str, Any]
    status: str
    contact: tuple[str, ...]
    delegations: tuple[dict[str, Any], ...]

    def delegation(self, name: str) -> dict[str, Any] | None:
        return next((d for d in self.delegations if d["metadata"]["name"] == name), None)

    @property
    def thumbprint(self) -> str:
        """The RFC 7638 thumbprint of the current key (the id is the first key's)."""
        key = cast(jose.JWK, jose.JWK.from_json(self.jwk))  # typed as its JSON base class
        return jose.encode_b64jose(key.thumbprint())


def eab_spec(delegation: dict[str, Any]) -> dict[str, Any]:
    return (delegation.get("spec") or {}).get("externalAccountBinding") or {}


def _secret_ref(delegation: dict[str, Any]) -> tuple[str, str]:
    ref = eab_spec(delegation).get("hmacKeySecretRef") or {}
    return ref.get("name", ""), ref.get("key") or "hmacKey"


#: The members of an account record that are the account's (the same on every Delegation it
#: is bound to); ``keyID`` and ``boundAt`` are the binding's.
ACCOUNT_FIELDS = ("url", "thumbprint", "jwk", "contact", "status")


def record_id(record: dict[str, Any]) -> str | None:
    """The account id of a record: the last segment of its URL (the key's thumbprint at
    registration), or the thumbprint of a record without an account URL."""
    url = record.get("url")
    if isinstance(url, str) and urls.ACCOUNT in url:
        return url.rpartition(urls.ACCOUNT)[2]
    return record.get("thumbprint")


def bound_account(delegation: dict[str, Any], account_id: str | None = None
                  ) -> dict[str, Any] | None:
    """The account bound to this Delegation (optionally: only if it is ``account_id``), as
    long as it was bound with the key id the Delegation names now."""
    acc = (delegation.get("status") or {}).get("account") or None
    if not acc or acc.get("keyID") != eab_spec(delegation).get("keyID"):
        return None
    if account_id is not None and record_id(acc) != account_id:
        return None
    return acc


def joinable(delegations: Sequence[dict[str, Any]], bound: Sequence[dict[str, Any]]
             ) -> list[dict[str, Any]]:
    """Unbound Delegations with the key id AND MAC Secret of a bound one: the DNO granted the
    same CDN another template; the account's earlier MAC proof covers them."""
    creds = {(eab_spec(d).get("keyID"), _secret_ref(d)) for d in bound}
    return [d for d in delegations if bound_account(d) is None
            and (eab_spec(d).get("keyID"), _secret_ref(d)) in creds]


def _name(delegation: dict[str, Any]) -> str:
    return str(delegation["metadata"]["name"])


def _account_part(record: dict[str, Any]) -> dict[str, Any]:
    return {k: record.get(k) for k in ACCOUNT_FIELDS}


async def find(cluster: Cluster, account_id: str) -> NdcAccount | None:
    """The account with this id, or None; joins Delegations granted to it since binding and
    repairs the records that disagree with the first one's (see the module's docstring)."""
    everything = await cluster.delegations()
    bound = sorted((d for d in everything if bound_account(d, account_id)), key=_name)
    if not bound:
        return None
    record = bound_account(bound[0]) or {}
    for i, other in enumerate(bound[1:], 1):
        theirs = bound_account(other) or {}
        if _account_part(theirs) != _account_part(record):
            try:
                bound[i] = await _write(cluster, other, {**theirs, **_account_part(record)})
            except k8s.Conflict:
                pass  # changed meanwhile; the next lookup repairs it
    for extra in joinable(everything, bound):
        try:
            bound.append(await _write(cluster, extra, record))
        except k8s.Conflict:
            continue  # changed meanwhile; the next lookup tries again
    return NdcAccount(account_id, dict(record.get("jwk") or {}), record.get("status", "valid"),
                      tuple(record.get("contact") or ()), tuple(bound))


async def find_by_key(cluster: Cluster, key_thumbprint: str) -> NdcAccount | None:
    """The account whose current key has this thumbprint, or None (newAccount's lookup, and
    keyChange's "new key already in use"). A record left behind by an interrupted key change
    names an account whose current key is another one: not a match."""
    ids = {record_id(acc) for d in await cluster.delegations()
           if (acc := bound_account(d)) is not None and acc.get("thumbprint") == key_thumbprint}
    for account_id in sorted(i for i in ids if i):
        account = await find(cluster, account_id)
        if account is not None and account.thumbprint == key_thumbprint:
            return account
    return None


async def _mac_key(cluster: Cluster, delegation: dict[str, Any]) -> bytes | None:
    name, key = _secret_ref(delegation)
    secret = await cluster.secret(name) if name else None
    raw = ((secret or {}).get("data") or {}).get(key)
    if not raw:
        return None
    try:
        return eab.decode_mac_key(base64.b64decode(raw).decode())
    except ValueError:
        return None  # reported on the Delegation's Ready condition by the operator


async def _write(cluster: Cluster, delegation: dict[str, Any], record: dict[str, Any]
                 ) -> dict[str, Any]:
    """The conditional write; returns the Delegation as written (its new resourceVersion)."""
    return await cluster.patch_delegation_status(
        delegation["metadata"]["name"], {"account": record},
        delegation["metadata"].get("resourceVersion"))


#: Attempts at binding while the Delegations keep changing under the conditional writes.
BIND_ATTEMPTS = 5


async def bind(cluster: Cluster, binding: eab.Binding, account_id: str, jwk: dict[str, Any],
               contact: Sequence[str], url: str) -> NdcAccount:
    """Bind the account to every Delegation of the binding's key id whose MAC key verifies.

    Why the retry: the operator writes a Delegation's status (its Ready condition) right after
    it is applied, which is exactly when a CDN registers, so a conditional write losing that
    race re-reads and binds again; only a Delegation that keeps changing makes it a 503.
    """
    for _ in range(BIND_ATTEMPTS):
        try:
            return await _bind_once(cluster, binding, account_id, jwk, contact, url)
        except k8s.Conflict:
            continue
    raise AcmeError("serverInternal", "the Delegation changed while binding; retry",
                    status=503, headers={"Retry-After": "1"})


async def _bind_once(cluster: Cluster, binding: eab.Binding, account_id: str,
                     jwk: dict[str, Any], contact: Sequence[str], url: str) -> NdcAccount:
    candidates = [d for d in await cluster.delegations()
                  if eab_spec(d).get("keyID") == binding.key_id]
    if not candidates:
        raise AcmeError("unauthorized", f"external account key id {binding.key_id!r} is not "
                                        "known here")
    verified = []
    for d in candidates:
        mac = await _mac_key(cluster, d)
        if mac is not None and eab.verify_mac(binding, mac):
            verified.append(d)
    if not verified:
        raise AcmeError("unauthorized", "externalAccountBinding MAC does not verify with the "
                                        f"key of key id {binding.key_id!r}")
    for d in verified:
        other = bound_account(d)
        if other is not None and other.get("thumbprint") != account_id:
            raise AcmeError("unauthorized", f"external account key id {binding.key_id!r} is "
                                            "already bound to another account")
    record = {"url": url, "thumbprint": account_id, "keyID": binding.key_id, "jwk": jwk,
              "contact": list(contact), "status": "valid",
              "boundAt": timeutil.format_time(timeutil.utcnow())}
    for d in verified:
        await _write(cluster, d, record)  # k8s.Conflict: changed meanwhile, bind() retries
    return NdcAccount(account_id, jwk, "valid", tuple(contact), tuple(verified))


async def update(cluster: Cluster, account: NdcAccount, **changes: Any) -> None:
    """Change the account record (contact, status; ``thumbprint`` and ``jwk`` for a
    keyChange) on every Delegation it is bound to: the first by name is the commit point and
    raises :class:`k8s.Conflict` if it changed since ``account`` was read; a Conflict on a
    later one leaves it to the next lookup's repair."""
    first, *rest = sorted(account.delegations, key=_name)
    await _write(cluster, first, {**(bound_account(first) or {}), **changes})
    for d in rest:
        try:
            await _write(cluster, d, {**(bound_account(d) or {}), **changes})
        except k8s.Conflict:
            continue

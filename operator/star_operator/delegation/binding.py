"""NDC accounts, kept where the DNO can see them: in the status of the Delegations they are
bound to (``status.account``).

An account's id is its key's RFC 7638 thumbprint, so finding the account of a request is a
scan of this namespace's Delegations, with nothing stored elsewhere. A key id binds ONE account
key, the first one presented with a valid MAC: a leaked MAC key cannot be used to bind a second
account to a Delegation already in use (the DNO rotates by a new key id).
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Sequence
from typing import Any

from star_ca.problems import AcmeError
from star_operator import k8s, timeutil
from star_operator.delegation import eab
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


def eab_spec(delegation: dict[str, Any]) -> dict[str, Any]:
    return (delegation.get("spec") or {}).get("externalAccountBinding") or {}


def _secret_ref(delegation: dict[str, Any]) -> tuple[str, str]:
    ref = eab_spec(delegation).get("hmacKeySecretRef") or {}
    return ref.get("name", ""), ref.get("key") or "hmacKey"


def bound_account(delegation: dict[str, Any], account_id: str | None = None
                  ) -> dict[str, Any] | None:
    """The account bound to this Delegation (optionally: only if it is ``account_id``), as
    long as it was bound with the key id the Delegation names now."""
    acc = (delegation.get("status") or {}).get("account") or None
    if not acc or acc.get("keyID") != eab_spec(delegation).get("keyID"):
        return None
    if account_id is not None and acc.get("thumbprint") != account_id:
        return None
    return acc


def joinable(delegations: Sequence[dict[str, Any]], bound: Sequence[dict[str, Any]]
             ) -> list[dict[str, Any]]:
    """Unbound Delegations with the key id AND MAC Secret of a bound one: the DNO granted the
    same CDN another template; the account's earlier MAC proof covers them."""
    creds = {(eab_spec(d).get("keyID"), _secret_ref(d)) for d in bound}
    return [d for d in delegations if bound_account(d) is None
            and (eab_spec(d).get("keyID"), _secret_ref(d)) in creds]


async def find(cluster: Cluster, account_id: str) -> NdcAccount | None:
    """The account with this id, or None; joins Delegations granted to it since binding."""
    everything = await cluster.delegations()
    bound = [d for d in everything if bound_account(d, account_id)]
    if not bound:
        return None
    record = bound_account(bound[0]) or {}
    for extra in joinable(everything, bound):
        try:
            await _write(cluster, extra, record)
        except k8s.Conflict:
            continue  # changed meanwhile; the next lookup tries again
        bound.append(extra)
    return NdcAccount(account_id, dict(record.get("jwk") or {}), record.get("status", "valid"),
                      tuple(record.get("contact") or ()), tuple(bound))


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


async def _write(cluster: Cluster, delegation: dict[str, Any], record: dict[str, Any]) -> None:
    await cluster.patch_delegation_status(delegation["metadata"]["name"], {"account": record},
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
    """Change the account record (contact, status) on every Delegation it is bound to."""
    for d in account.delegations:
        record = {**(bound_account(d) or {}), **changes}
        await _write(cluster, d, record)

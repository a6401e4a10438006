"""Who may write a Secret: its one owner, recorded on it, and nobody else while that owner lives.

Every Secret the operator writes carries its owner in three annotations: ``owner`` (namespace/
name), ``owner-kind`` (``StarOrder`` or ``StarCertificate``) and ``owner-uid``. A StarOrder owns
its ``spec.secretName``; the StarCertificate a StarOrder owns writes on that StarOrder's behalf
(its claim *is* the StarOrder's); a standalone StarCertificate owns its own ``spec.secretName``.

A second claimant is refused (:class:`SecretConflictError`, naming the Secret and the owner)
and writes nothing, until the owner lets go: the object with the recorded UID no longer exists
(a re-created object of the same name is a new owner and is refused too), or the Secret is
deleted. The decision (:func:`assess`) is pure; whether an owner still exists is asked through
an :data:`OwnerLookup` the caller passes in.

Secrets written before the UID was recorded: one whose ``owner`` annotation names a StarOrder
belongs to that StarOrder while one of that name exists; one without it is taken by the first
claimant that writes it. Either way the first write records the full owner.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from star_operator import constants as c
from star_operator.secrets import payload


@dataclasses.dataclass(frozen=True)
class Owner:
    """A StarOrder or standalone StarCertificate, by kind, namespace/name and UID.

    ``uid`` is empty only for an owner read from a Secret written before UIDs were recorded.
    """

    kind: str
    namespace: str
    name: str
    uid: str

    def annotations(self) -> dict[str, str]:
        """The Secret annotations that record this owner."""
        return {c.OWNER_ANNOTATION: f"{self.namespace}/{self.name}",
                c.OWNER_KIND_ANNOTATION: self.kind, c.OWNER_UID_ANNOTATION: self.uid}

    def same(self, other: Owner) -> bool:
        """The same object: same kind and UID (by name where a legacy record has no UID)."""
        if self.kind != other.kind or self.namespace != other.namespace:
            return False
        if self.uid and other.uid:
            return self.uid == other.uid
        return self.name == other.name

    def __str__(self) -> str:
        uid = f" (uid {self.uid})" if self.uid else ""
        return f"{self.kind} {self.namespace}/{self.name}{uid}"


#: Whether the object ``Owner`` names still exists (by UID; by name for a legacy record).
OwnerLookup = Callable[[Owner], Awaitable[bool]]


@dataclasses.dataclass(frozen=True)
class Claim:
    """Who writes (``owner``) and how to tell whether a recorded owner is gone (``exists``)."""

    owner: Owner
    exists: OwnerLookup


class SecretConflictError(Exception):
    """The Secret belongs to someone else: nothing was written."""

    def __init__(self, message: str, holder: Owner | None = None) -> None:
        super().__init__(message)
        self.holder = holder


class Verdict(enum.Enum):
    FREE = "free"            # no Secret, or one nobody has claimed yet: the claimant takes it
    OURS = "ours"            # recorded owner is the claimant
    HELD = "held"            # another owner recorded: refused while it exists
    UNMANAGED = "unmanaged"  # a Secret the operator did not create: never written


@dataclasses.dataclass(frozen=True)
class Assessment:
    verdict: Verdict
    holder: Owner | None = None


def _meta(secret: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return (secret or {}).get("metadata") or {}


def recorded_owner(secret: Mapping[str, Any] | None) -> Owner | None:
    """The owner the Secret's annotations name (None: none recorded)."""
    ann = _meta(secret).get("annotations") or {}
    ref = ann.get(c.OWNER_ANNOTATION) or ""
    namespace, sep, name = ref.partition("/")
    if not sep or not name:
        return None
    return Owner(kind=ann.get(c.OWNER_KIND_ANNOTATION) or c.STARORDER_KIND,
                 namespace=namespace, name=name, uid=ann.get(c.OWNER_UID_ANNOTATION) or "")


def assess(secret: Mapping[str, Any] | None, claimant: Owner, *,
           adopt_unmanaged: bool = False) -> Assessment:
    """What ``claimant`` may do with ``secret`` (None: it does not exist), before any lookup.

    ``adopt_unmanaged``: a standalone StarCertificate whose key Secret is its target may take
    a Secret the operator did not create (and from then on owns it).
    """
    if secret is None:
        return Assessment(Verdict.FREE)
    if not payload.is_managed(secret) and not adopt_unmanaged:
        return Assessment(Verdict.UNMANAGED)
    holder = recorded_owner(secret)
    if holder is None:
        return Assessment(Verdict.FREE)
    if holder.same(claimant):
        return Assessment(Verdict.OURS, holder)
    return Assessment(Verdict.HELD, holder)


def conflict_message(namespace: str, name: str, assessment: Assessment) -> str:
    """Why a write into Secret ``namespace/name`` is refused (names the current owner)."""
    if assessment.verdict is Verdict.UNMANAGED:
        return (f"Secret {namespace}/{name} exists and is not managed by star-operator "
                f"(label {c.MANAGED_BY_LABEL}={c.MANAGED_BY_VALUE} missing)")
    return (f"Secret {namespace}/{name} belongs to {assessment.holder}; nothing is written "
            "to it until that owner is deleted or the Secret is (choose another "
            "spec.secretName to proceed now)")


async def check(secret: Mapping[str, Any] | None, namespace: str, name: str, claim: Claim, *,
                adopt_unmanaged: bool = False) -> Assessment:
    """Raise :class:`SecretConflictError` unless ``claim.owner`` may write ``secret``.

    A recorded owner other than the claimant is looked up (:attr:`Claim.exists`); once it is
    gone the Secret is free for the claimant.
    """
    found = assess(secret, claim.owner, adopt_unmanaged=adopt_unmanaged)
    if found.verdict is Verdict.UNMANAGED:
        raise SecretConflictError(conflict_message(namespace, name, found))
    if found.verdict is Verdict.HELD:
        assert found.holder is not None
        if await claim.exists(found.holder):
            raise SecretConflictError(conflict_message(namespace, name, found), found.holder)
        return Assessment(Verdict.FREE, found.holder)
    return found


def _uid(body: Mapping[str, Any]) -> str:
    return str(_meta(body).get("uid") or "")


def order_claimant(body: Mapping[str, Any]) -> Owner:
    """A StarOrder claims its ``spec.secretName`` as itself."""
    meta = _meta(body)
    return Owner(c.STARORDER_KIND, str(meta.get("namespace") or ""), str(meta.get("name")),
                 _uid(body))


def controlling_order(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The ownerReference of the StarOrder controlling a StarCertificate (None: standalone)."""
    for ref in _meta(body).get("ownerReferences") or ():
        if ref.get("kind") == c.STARORDER_KIND and ref.get("controller"):
            return dict(ref)
    return None


def certificate_claimant(body: Mapping[str, Any]) -> Owner:
    """A StarCertificate owned by a StarOrder writes as that StarOrder; a standalone one as
    itself."""
    meta = _meta(body)
    namespace = str(meta.get("namespace") or "")
    ref = controlling_order(body)
    if ref is not None:
        return Owner(c.STARORDER_KIND, namespace, str(ref.get("name")), str(ref.get("uid") or ""))
    return Owner(c.STARCERTIFICATE_KIND, namespace, str(meta.get("name")), _uid(body))

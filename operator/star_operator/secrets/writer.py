"""Writes the TLS Secret in one conditional update.

Pods mount this Secret, so a half-written state (new certificate, old key) would break TLS.
Everything that must agree goes in a single PUT carrying the ``resourceVersion`` we read: the
API server applies it atomically or rejects it with 409, and then we re-read and retry. The key
written is the one the certificate was verified against, so ``tls.key`` and ``tls.crt`` match by
construction.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from typing import Any, Final, Protocol

from star_operator import constants as c
from star_operator import k8s
from star_operator.secrets import ownership, payload
from star_operator.secrets.ownership import SecretConflictError

__all__ = ["API_SERVER", "UNREAD", "Known", "SecretConflictError", "SecretStore",
           "SecretWriteError", "WriteResult", "write_secret", "write_tls_secret",
           "stage_private_key"]

MAX_ATTEMPTS = 5


class _Unread(enum.Enum):
    UNREAD = "unread"


#: ``known=UNREAD``: the caller has not read the Secret, so the write reads it first. Distinct
#: from ``known=None``, "just read and absent": a new StarOrder's Secret is created without a
#: second GET that would only say 404 again (a Secret created in between makes the create a
#: 409, and the retry reads it).
UNREAD: Final = _Unread.UNREAD
#: The Secret as the caller just read it (None: absent), or :data:`UNREAD`.
Known = Mapping[str, Any] | None | _Unread


class SecretWriteError(Exception):
    """The API server refused the write (RBAC, an immutable Secret, a quota...).

    Raised instead of the bare :class:`~star_operator.k8s.ApiError` so callers can turn it into
    a condition whose message names the Secret and the likely cause.
    """

    def __init__(self, namespace: str, name: str, error: k8s.ApiError) -> None:
        hint = ""
        if error.status == 403:
            hint = " (the operator's RBAC lacks this verb on secrets)"
        elif error.status == 422 and "immutable" in error.message.lower():
            hint = " (the Secret is marked immutable, so Kubernetes refuses every change to it)"
        super().__init__(f"cannot write Secret {namespace}/{name}: {error.status} "
                         f"{error.reason}: {error.message}{hint}")
        self.error = error


class SecretStore(Protocol):
    """The three Secret calls a write makes; :data:`API_SERVER` in the operator, a fake in unit
    tests (which then see every request and can answer 409, 403 or 422)."""

    async def get_secret(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    async def create_secret(self, namespace: str,
                            body: Mapping[str, Any]) -> dict[str, Any]: ...

    async def replace_secret(self, namespace: str, name: str,
                             body: Mapping[str, Any]) -> dict[str, Any]: ...


@dataclasses.dataclass(frozen=True)
class _ApiServer:
    """:class:`SecretStore` over :mod:`star_operator.k8s` (the process's API client)."""

    async def get_secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await k8s.get_secret(namespace, name)

    async def create_secret(self, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return await k8s.create_secret(namespace, body)

    async def replace_secret(self, namespace: str, name: str,
                             body: Mapping[str, Any]) -> dict[str, Any]:
        return await k8s.replace_secret(namespace, name, body)


API_SERVER: SecretStore = _ApiServer()


@dataclasses.dataclass(frozen=True)
class WriteResult:
    """Outcome of :func:`write_tls_secret`."""

    changed: bool
    resource_version: str
    #: The Secret as it stands after the write (the API server's answer, or what was read when
    #: nothing needed writing): a caller that writes it again can pass it as ``known``. Not in
    #: the repr: it may hold the private key.
    secret: Mapping[str, Any] | None = dataclasses.field(default=None, repr=False)


async def _put(store: SecretStore, namespace: str, name: str,
               existing: Mapping[str, Any] | None, body: dict[str, Any]) -> dict[str, Any]:
    if existing is None:
        return await store.create_secret(namespace, body)
    return await store.replace_secret(namespace, name, body)


async def write_secret(namespace: str, name: str, *, data: Mapping[str, str],
                       claim: ownership.Claim,
                       annotations: Mapping[str, str] | None = None,
                       labels: Mapping[str, str] | None = None,
                       drop_keys: tuple[str, ...] = (c.STAGED_KEY,),
                       adopt_unmanaged: bool = False,
                       known: Known = UNREAD,
                       secret_type: str = payload.TLS_TYPE,
                       reread_on_conflict: bool = True,
                       store: SecretStore = API_SERVER) -> WriteResult:
    """Create or conditionally replace a Secret with ``data`` merged in, as ``claim.owner``.

    Refused with :class:`SecretConflictError`, nothing written, when the Secret belongs to
    another owner that still exists or was not created by the operator (see
    :mod:`.ownership`); every write records the owner.
    ``adopt_unmanaged`` allows writing into a Secret we did not create (a standalone
    StarCertificate whose key Secret is also its target). ``known`` is the Secret as the caller
    just read it (None: absent; see :data:`UNREAD`): the first attempt uses it instead of
    another GET (its resourceVersion still makes the write conditional, and a create of what
    was absent fails if it exists; a 409 re-reads). ``secret_type``: the type of a new Secret.
    ``reread_on_conflict=False``: the Secret changed (409) or deleted (404) since ``known`` is
    raised as :class:`~star_operator.k8s.Conflict` / :class:`~star_operator.k8s.NotFound`
    instead of re-applying ``data`` to a fresh read, for a caller whose ``data`` was derived
    from ``known`` (a rotation verified its key there) and must decide again. ``store``: where
    the Secret lives (the API server; a fake in tests).
    """
    for attempt in range(MAX_ATTEMPTS):
        if attempt == 0 and known is not UNREAD:
            existing = None if known is None else dict(known)
        else:
            existing = await store.get_secret(namespace, name)
        await ownership.check(existing, namespace, name, claim, adopt_unmanaged=adopt_unmanaged)
        body = payload.secret_body(existing, namespace=namespace, name=name, data=data,
                                   annotations={**(annotations or {}),
                                                **claim.owner.annotations()},
                                   labels=labels, drop_keys=drop_keys,
                                   secret_type=secret_type)
        if existing is not None and payload.data_equal(existing, body):
            return WriteResult(False, existing["metadata"].get("resourceVersion", ""), existing)
        try:
            result = await _put(store, namespace, name, existing, body)
        except k8s.Conflict:
            if not reread_on_conflict:
                raise
            continue  # someone wrote in between (or created it): re-read and re-apply
        except k8s.NotFound as exc:
            if not reread_on_conflict:
                raise
            # deleted in between: not re-created from what was read (its key went with it)
            raise SecretWriteError(namespace, name, exc) from exc
        except k8s.ApiError as exc:
            raise SecretWriteError(namespace, name, exc) from exc
        return WriteResult(True, result["metadata"].get("resourceVersion", ""), result)
    raise k8s.Conflict(409, "Conflict", f"Secret {namespace}/{name}: gave up after "
                                        f"{MAX_ATTEMPTS} conflicting writes")


async def write_tls_secret(namespace: str, name: str, material: payload.TlsMaterial,
                           annotations: Mapping[str, str], *, claim: ownership.Claim,
                           adopt_unmanaged: bool = False,
                           known: Known = UNREAD, reread_on_conflict: bool = True,
                           store: SecretStore = API_SERVER) -> WriteResult:
    """Write certificate chain, key and CA together (the rotation step); a certificate-only
    ``material`` removes any key from the Secret in the same write and creates it ``Opaque``.
    ``known``, ``reread_on_conflict``: as in :func:`write_secret`."""
    cert_only = material.certificate_only
    return await write_secret(namespace, name, data=payload.tls_data(material),
                              claim=claim, annotations=annotations,
                              adopt_unmanaged=adopt_unmanaged, known=known,
                              drop_keys=payload.KEY_FIELDS if cert_only else (c.STAGED_KEY,),
                              secret_type=payload.OPAQUE_TYPE if cert_only else payload.TLS_TYPE,
                              reread_on_conflict=reread_on_conflict, store=store)


async def stage_private_key(namespace: str, name: str, key_pem: bytes, *,
                            claim: ownership.Claim,
                            known: Known = UNREAD,
                            store: SecretStore = API_SERVER) -> WriteResult:
    """Store a new StarOrder's key before the CA order exists.

    A new Secret is created as ``kubernetes.io/tls`` (its type cannot change later) with empty
    ``tls.crt``/``tls.key``, so nothing serves a key without its certificate; an existing one
    keeps serving what it has. The key sits under :data:`~star_operator.constants.STAGED_KEY`
    until the first certificate moves it into ``tls.key``. Refused like any write when the
    Secret belongs to someone else, so a second claimant never leaves a key behind.
    """
    data = {c.STAGED_KEY: payload.b64(key_pem)}
    return await write_secret(namespace, name, data=data, claim=claim, drop_keys=(),
                              known=known, store=store)

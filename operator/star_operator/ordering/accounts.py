"""The DNO's ACME accounts: one account key Secret and one cached AcmeClient per CsrTemplate.

1,000 StarOrders on one template share one client (one nonce pool, one connection pool, one
newAccount), so the cache (:class:`.client_cache.AccountClients`, owned by the operator's
context) is keyed by template and invalidated when its CA settings change.
"""

from __future__ import annotations

import dataclasses

from josepy.jwk import JWK
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from star_operator.errors import ReasonedError
from star_operator import acme, k8s, metrics, sessions
from star_operator.dns01 import Rfc2136Solver
from star_operator.ordering.client_cache import AccountClients, fingerprint
from star_operator.ordering.templates import SecretRef, TemplatePolicy
from star_operator.secrets import payload, writer


class CaSettingsError(ReasonedError):
    """A Secret the template points at is missing or unusable; ``reason`` for the condition."""


@dataclasses.dataclass(frozen=True)
class CaMaterial:
    """Secret contents a template needs to reach its CA and DNS server."""

    account_key_pem: bytes
    ca_pem: bytes | None
    tsig_secret: str

    def fingerprint(self, policy: TemplatePolicy) -> str:
        """What the template's cached client was made from (see :mod:`.client_cache`)."""
        return fingerprint(policy.directory_url.encode(), self.account_key_pem,
                           self.ca_pem or b"")


async def read_secret_value(ref: SecretRef, *, required: bool = True, role: str = "",
                            store: writer.SecretStore = writer.API_SERVER) -> bytes | None:
    """One data value of a Secret; raises :class:`CaSettingsError` if required and absent.

    ``role`` (e.g. ``TSIG key (spec.dns01.rfc2136.tsigSecretSecretRef)``) goes into the message
    so the condition says which of the template's Secrets to fix, not just a name.
    """
    secret = await store.get_secret(ref.namespace, ref.name)
    value = payload.unb64(((secret or {}).get("data") or {}).get(ref.key))
    if not value and required:
        what = "not found" if secret is None else f"has no key {ref.key!r}"
        prefix = f"{role}: " if role else ""
        raise CaSettingsError("SecretMissing",
                              f"{prefix}Secret {ref.namespace}/{ref.name} {what}")
    return value or None


async def read_ca_bundle(ref: SecretRef, role: str, *,
                         store: writer.SecretStore = writer.API_SERVER) -> bytes:
    """The CA bundle from its Secret, refused unless it is PEM certificates (naming the Secret
    and key).

    Caught here, once, rather than deep inside TLS setup where it surfaced as an anonymous
    ``ValueError`` (and a retry loop with tracebacks) on every StarOrder of the template.
    """
    value = await read_secret_value(ref, role=role, store=store)
    assert value is not None
    try:
        x509.load_pem_x509_certificates(value)
    except ValueError as exc:
        detail = str(exc).split(". See https://", 1)[0]  # cryptography's FAQ link adds nothing
        raise CaSettingsError(
            "InvalidCABundle",
            f"{role}: Secret {ref.namespace}/{ref.name} key {ref.key!r} does not hold PEM "
            f"certificates ({detail})") from exc
    return value


def new_client(directory_url: str, account_key_pem: bytes,
               ca_pem: bytes | None) -> acme.AcmeClient:
    """An AcmeClient on the operator's shared HTTP session (not yet registered)."""
    return acme.AcmeClient(directory_url, JWK.load(account_key_pem),
                           ca_bundle=ca_pem.decode("ascii") if ca_pem else None,
                           session=sessions.http_session())


def new_account_key_pem() -> bytes:
    """A fresh ES256 account key (RFC 8555 §6.2: ES256 is the algorithm every CA must accept)."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


async def ensure_account_key(ref: SecretRef, *, store: writer.SecretStore = writer.API_SERVER
                             ) -> tuple[bytes, bool]:
    """The account key PEM, creating its Secret if it does not exist; (pem, created).

    A Secret that exists without the key is refused, not overwritten: the operator did not
    make it, and whatever it holds may be needed by whoever did.
    """
    secret = await store.get_secret(ref.namespace, ref.name)
    if secret is not None:
        value = payload.unb64((secret.get("data") or {}).get(ref.key))
        if not value:
            raise CaSettingsError("SecretMissing", f"Secret {ref.namespace}/{ref.name} exists "
                                                   f"but has no key {ref.key!r}; not overwriting")
        return value, False
    pem = new_account_key_pem()
    body = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": ref.name, "namespace": ref.namespace,
                         "labels": payload.managed_labels()},
            "data": {ref.key: payload.b64(pem)}}
    try:
        await store.create_secret(ref.namespace, body)
    except k8s.Conflict:  # another worker created it first: use theirs
        return await ensure_account_key(ref, store=store)
    return pem, True


async def load_material(policy: TemplatePolicy, *, create_key: bool = False,
                        store: writer.SecretStore = writer.API_SERVER) -> CaMaterial:
    """Read (or, for the template handler, create) the Secrets the template references, from
    ``store`` (the API server; a fake in unit tests)."""
    if create_key:
        key_pem, _ = await ensure_account_key(policy.account_key_ref, store=store)
    else:
        key_pem = await read_secret_value(  # type: ignore[assignment]
            policy.account_key_ref, role="account key (spec.acme.accountKeySecretRef)",
            store=store)
    ca_pem = (await read_ca_bundle(policy.ca_bundle_ref,
                                   "CA bundle (spec.acme.caBundleSecretRef)", store=store)
              if policy.ca_bundle_ref else None)
    assert key_pem is not None
    return CaMaterial(account_key_pem=key_pem, ca_pem=ca_pem,
                      tsig_secret=await read_tsig_secret(policy, store=store))


def material_secrets(policy: TemplatePolicy) -> list[tuple[str, str]]:
    """(namespace, name) of every Secret :func:`load_material` reads for ``policy``."""
    refs = [policy.account_key_ref, policy.ca_bundle_ref, policy.rfc2136.tsig_secret_ref]
    return [(ref.namespace, ref.name) for ref in refs if ref is not None]


def solver_for(policy: TemplatePolicy, material: CaMaterial) -> Rfc2136Solver:
    """The dns-01 solver the template describes."""
    return rfc2136_client(policy, material.tsig_secret)


def rfc2136_client(policy: TemplatePolicy, tsig_secret: str) -> Rfc2136Solver:
    """The template's RFC 2136 server and TSIG key (dns-01, cname-map and CAA records)."""
    s = policy.rfc2136
    return Rfc2136Solver(s.server, s.port, s.tsig_key_name, tsig_secret,
                         tsig_algorithm=s.tsig_algorithm, zone=s.zone)


async def read_tsig_secret(policy: TemplatePolicy, *,
                           store: writer.SecretStore = writer.API_SERVER) -> str:
    """The TSIG secret the template references (text, surrounding whitespace dropped)."""
    tsig = await read_secret_value(policy.rfc2136.tsig_secret_ref,
                                   role="TSIG key (spec.dns01.rfc2136.tsigSecretSecretRef)",
                                   store=store)
    assert tsig is not None
    return tsig.decode("ascii").strip()


async def client_for(clients: AccountClients[str], policy: TemplatePolicy,
                     material: CaMaterial) -> acme.AcmeClient:
    """The template's registered AcmeClient from the operator's cache (``clients``, keyed by
    template name; re-created when its CA settings change)."""
    async def register(client: acme.AcmeClient) -> None:
        with metrics.time_acme("new-account"):
            await client.register(contact=policy.contact)
    return await clients.get(
        policy.name, material.fingerprint(policy),
        lambda: new_client(policy.directory_url, material.account_key_pem, material.ca_pem),
        register)

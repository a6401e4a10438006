"""A StarIssuer: how a CDN's cluster reaches the DNO's RFC 9115 delegation front end.

The CDN holds no CA account and no DNS key. What it holds is an invitation (the External
Account Binding key id and MAC key the DNO handed over out of band), the roots it trusts, and
an ACME account key of its own at the front end, created here on first use. :func:`connect`
turns a StarIssuer into a registered client plus the delegation it orders under and that
delegation's CSR template, for both the StarIssuer's own status and every StarOrder naming it.

Refusals (a binding the front end does not accept, no or an unknown delegation, a template the
operator cannot read) raise :class:`IssuerError` with a reason and the front end's problem
detail; they need a human and are not retried in a loop. A front end that cannot be reached
raises the client's ``AcmeConnectionError``: the caller retries with backoff.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from star_operator import acme, k8s, metrics
from star_operator import constants as c
from star_operator.csr_template import CsrTemplate, TemplateError, load_template
from star_operator.errors import ReasonedError
from star_operator.ordering import accounts
from star_operator.ordering.client_cache import AccountClients, fingerprint
from star_operator.ordering.templates import SecretRef

EAB_KEY_ID = "keyID"
EAB_HMAC_KEY = "hmacKey"


class IssuerError(ReasonedError):
    """The StarIssuer cannot be used as it stands; ``reason`` for the Ready condition."""


@dataclasses.dataclass(frozen=True)
class IssuerSpec:
    """A parsed StarIssuer (Secrets not read yet)."""

    namespace: str
    name: str
    directory_url: str
    eab_ref: SecretRef
    account_key_ref: SecretRef
    ca_bundle_ref: SecretRef | None
    delegation_url: str | None
    contact: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class FrontEnd:
    """A registered account at the front end, the delegation in use and its CSR template."""

    client: acme.AcmeClient
    ca_pem: bytes | None
    delegation: acme.Delegation
    template: CsrTemplate


def parse_issuer(body: Mapping[str, Any]) -> IssuerSpec:
    """The StarIssuer's spec; the CRD schema checks shape, this the references' defaults."""
    meta = body.get("metadata") or {}
    spec = body.get("spec") or {}
    namespace, name = meta["namespace"], meta["name"]
    if not spec.get("directoryURL"):
        raise IssuerError("IssuerInvalid", "spec.directoryURL: required")
    eab = spec.get("externalAccountBindingSecretRef") or {}
    if not eab.get("name"):
        raise IssuerError("IssuerInvalid", "spec.externalAccountBindingSecretRef.name: required")
    key_ref = spec.get("accountKeySecretRef") or {}
    ca_ref = spec.get("caBundleSecretRef")
    return IssuerSpec(
        namespace=namespace, name=name, directory_url=spec["directoryURL"],
        eab_ref=SecretRef(namespace, eab["name"], ""),
        account_key_ref=SecretRef(namespace, key_ref.get("name") or f"{name}-acme-account",
                                  key_ref.get("key") or c.TLS_KEY),
        ca_bundle_ref=SecretRef(namespace, ca_ref["name"], ca_ref.get("key") or c.CA_CRT)
        if ca_ref else None,
        delegation_url=spec.get("delegationURL") or None,
        contact=tuple(spec.get("contact") or ()))


async def load_issuer(namespace: str, name: str) -> IssuerSpec:
    """The StarIssuer a StarOrder names, parsed; absent is an :class:`IssuerError`."""
    body = await k8s.get_object(c.STARISSUER_PLURAL, namespace, name)
    if body is None:
        raise IssuerError("IssuerNotFound", f"StarIssuer {namespace}/{name} not found")
    return parse_issuer(body)


async def read_binding(spec: IssuerSpec) -> acme.EabCredentials:
    """The key id and MAC key from the EAB Secret; never put into a message."""
    role = "external account binding (spec.externalAccountBindingSecretRef)"
    values = []
    for key in (EAB_KEY_ID, EAB_HMAC_KEY):
        ref = dataclasses.replace(spec.eab_ref, key=key)
        value = await accounts.read_secret_value(ref, role=role)
        assert value is not None
        values.append(value.decode("utf-8", "replace").strip())
    try:
        return acme.EabCredentials(values[0], values[1])
    except acme.EabError as exc:
        raise IssuerError("InvalidExternalAccountBinding",
                          f"{role}: Secret {spec.namespace}/{spec.eab_ref.name}: {exc}") from None


def _fingerprint(spec: IssuerSpec, key_pem: bytes, ca_pem: bytes | None,
                 creds: acme.EabCredentials) -> str:
    return fingerprint(spec.directory_url.encode(), key_pem, ca_pem or b"",
                       creds.key_id.encode(), creds.hmac_key.encode())


async def _registered(clients: AccountClients[tuple[str, str]], spec: IssuerSpec,
                      key_pem: bytes, ca_pem: bytes | None,
                      creds: acme.EabCredentials) -> acme.AcmeClient:
    """The issuer's client, registered with the binding once and cached until its settings
    change (one nonce pool and one newAccount for every StarOrder naming the issuer)."""
    async def register(client: acme.AcmeClient) -> None:
        try:
            with metrics.time_acme("new-account"):
                await client.register(contact=spec.contact, binding=creds)
        except acme.AcmeProblem as problem:
            if problem.status is not None and problem.status >= 500:
                raise
            raise IssuerError("ExternalAccountBindingRefused",
                              f"the front end at {spec.directory_url} refused the account "
                              f"(key id {creds.key_id!r}): {problem}") from problem
    return await clients.get((spec.namespace, spec.name),
                             _fingerprint(spec, key_pem, ca_pem, creds),
                             lambda: accounts.new_client(spec.directory_url, key_pem, ca_pem),
                             register)


async def client_for(clients: AccountClients[tuple[str, str]], spec: IssuerSpec
                     ) -> tuple[acme.AcmeClient, bytes | None]:
    """The registered client at the front end (from the operator's cache ``clients``), and the
    trusted roots (for the StarCertificate).

    Secrets missing or malformed raise :class:`accounts.CaSettingsError` / :class:`IssuerError`.
    """
    creds = await read_binding(spec)
    ca_pem = (await accounts.read_ca_bundle(spec.ca_bundle_ref,
                                            "CA bundle (spec.caBundleSecretRef)")
              if spec.ca_bundle_ref else None)
    key_pem, _ = await accounts.ensure_account_key(spec.account_key_ref)
    return await _registered(clients, spec, key_pem, ca_pem, creds), ca_pem


async def _delegation_url(client: acme.AcmeClient, spec: IssuerSpec) -> str:
    try:
        granted = await client.delegation_urls()
    except acme.AcmeProtocolError as exc:
        raise IssuerError("NotADelegationFrontEnd", str(exc)) from exc
    if spec.delegation_url:
        if spec.delegation_url not in granted:
            raise IssuerError("UnknownDelegation",
                              f"spec.delegationURL {spec.delegation_url} is not among this "
                              f"account's delegations ({', '.join(granted) or 'none'})")
        return spec.delegation_url
    if len(granted) != 1:
        raise IssuerError("NoDelegation" if not granted else "DelegationAmbiguous",
                          f"the account {client.account_url} has {len(granted)} delegations"
                          + ("; name one in spec.delegationURL: " + ", ".join(granted)
                             if granted else "; the DNO has granted none (yet)"))
    return granted[0]


async def connect(clients: AccountClients[tuple[str, str]], spec: IssuerSpec) -> FrontEnd:
    """Account, delegation, template: everything a StarOrder needs before its key."""
    client, ca_pem = await client_for(clients, spec)
    url = await _delegation_url(client, spec)
    try:
        delegation = await client.get_delegation(url)
    except acme.AcmeProblem as problem:
        if problem.status is not None and problem.status >= 500:
            raise
        raise IssuerError("UnknownDelegation", f"delegation {url}: {problem}") from problem
    except acme.AcmeProtocolError as exc:
        raise IssuerError("DelegationInvalid", str(exc)) from exc
    try:
        template = load_template(delegation.csr_template)
    except TemplateError as exc:
        raise IssuerError("TemplateUnsupported",
                          f"delegation {url}: csr-template {exc.path or ''}: {exc.message}"
                          ) from exc
    return FrontEnd(client=client, ca_pem=ca_pem, delegation=delegation, template=template)


def cached_client(clients: AccountClients[tuple[str, str]], namespace: str,
                  name: str) -> acme.AcmeClient | None:
    """The last registered client of a StarIssuer, even one deleted since.

    Deleting a namespace deletes the StarIssuer and its Secrets in no particular order and
    before the StarOrders' finalizers have canceled their Order1s; the client kept here (it
    holds the account key) is what lets them cancel anyway. So entries are never dropped when
    a StarIssuer goes, only replaced when its settings change.
    """
    return clients.cached((namespace, name))

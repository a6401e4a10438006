"""One fetch cycle of a StarCertificate: download, verify, write the Secret.

Kept free of kopf so it can be driven by the daemon loop and by tests alike. Anything that goes
wrong raises :class:`CycleError` (or lets :class:`~star_operator.acme.AcmeProblem` through) and
leaves the Secret exactly as it was: the current certificate keeps being served.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from star_operator.errors import ReasonedError
from star_operator import acme, k8s, metrics, pem, sessions, timeutil
from star_operator import constants as c
from star_operator.secrets import handoff, ownership, payload, writer
from star_operator.verify import KeyRef, VerificationError, VerifiedCertificate, verify_certificate


#: A key a chain is verified against (:data:`~star_operator.verify.KeyRef`).
K = TypeVar("K", bound=KeyRef)


class CycleError(ReasonedError):
    """A cycle failed for a reason we can name (becomes the condition reason)."""


#: Verification failures that the Secret as it stands now may cure (a key staged since the
#: version a cycle verified against).
KEY_REASONS = frozenset({"KeyMismatch", "KeyMissing"})
#: What the remembered copy of a Secret leaves out (:attr:`CycleResult.secret`): the chain and
#: the CA, which the write over that copy sets anyway (it is used only for a new chain, and a
#: StarCertificate always has its CA bundle), 2.4 KB of the 4.5 per StarCertificate.
REWRITTEN = (c.TLS_CRT, c.CA_CRT)


class _SecretChanged(Exception):
    """The Secret a rotation remembered is no longer the Secret: read it and decide again."""


@dataclasses.dataclass(frozen=True)
class CertInputs:
    """A StarCertificate's spec, resolved (Secret references read)."""

    url: str
    secret_name: str
    key_secret_name: str
    key_field: str
    ca_pem: bytes
    expected_names: tuple[str, ...]
    end_date: datetime.datetime | None
    issuer_name: str


@dataclasses.dataclass(frozen=True)
class CycleResult:
    """What a successful cycle produced."""

    certificate: VerifiedCertificate
    fetched: acme.StarFetch
    secret_changed: bool
    #: The target Secret as this cycle left it, when it also holds the key: the next rotation
    #: verifies against it and writes over exactly that version without reading it first.
    #: Compact JSON (:func:`~star_operator.secrets.handoff.compact`) without :data:`REWRITTEN`,
    #: not the parsed object: a loop keeps it for a whole lifetime, and a STAR Secret is about
    #: 4.5 KB as JSON but 8 KB parsed, times every StarCertificate (80 MB of the operator's
    #: memory at 10,000). It holds the private key, so it is left out of the repr (a logged
    #: result must not carry it).
    secret: bytes | None = dataclasses.field(default=None, repr=False)

    def kept(self) -> CycleResult:
        """This result as a loop keeps it until its next cycle (``installed``), without the
        parsed chain: that cycle compares the CA's PEM with ``fetched.chain_pem`` and the loop
        reads the certificate's facts only, where the parsed certificates were 2.4 KB per
        StarCertificate for its whole life (``certificate.leaf`` of a kept result is gone)."""
        return dataclasses.replace(self, certificate=dataclasses.replace(self.certificate,
                                                                         chain=[]))


async def _secret_field(namespace: str, ref: Mapping[str, Any], default_key: str,
                        store: writer.SecretStore) -> bytes:
    secret = await store.get_secret(namespace, ref["name"])
    key = ref.get("key") or default_key
    if secret is None:
        raise CycleError("SecretNotFound", f"Secret {namespace}/{ref['name']} not found")
    value = payload.unb64((secret.get("data") or {}).get(key))
    if not value:
        raise CycleError("SecretKeyMissing", f"Secret {namespace}/{ref['name']} has no {key!r}")
    return value


async def resolve_inputs(namespace: str, spec: Mapping[str, Any], *,
                         store: writer.SecretStore = writer.API_SERVER) -> CertInputs:
    """Read the spec and the CA bundle Secret it may reference."""
    if spec.get("caBundle"):
        ca_pem = spec["caBundle"].encode()
    elif spec.get("caBundleSecretRef"):
        ca_pem = await _secret_field(namespace, spec["caBundleSecretRef"], c.CA_CRT, store)
    else:
        raise CycleError("CABundleMissing",
                         "spec.caBundle or spec.caBundleSecretRef is needed to verify the chain")
    key_ref = spec.get("privateKeySecretRef") or {}
    try:
        end_date = timeutil.parse_time(spec.get("endDate"))
    except ValueError as exc:
        raise CycleError("SpecInvalid", f"spec.endDate: {exc}") from exc
    return CertInputs(
        url=spec["starCertificateURL"], secret_name=spec["secretName"],
        key_secret_name=key_ref.get("name") or spec["secretName"],
        key_field=key_ref.get("key") or c.TLS_KEY, ca_pem=ca_pem,
        expected_names=tuple(spec.get("dnsNames") or ()), end_date=end_date,
        issuer_name=spec.get("issuerName") or "")


def candidate_keys(secret: Mapping[str, Any] | None, field: str) -> list[bytes]:
    """Keys a certificate may belong to: the staged one (newest) first, then ``field``."""
    data = (secret or {}).get("data") or {}
    found = [payload.unb64(data.get(k)) for k in (c.STAGED_KEY, field)]
    return [k for i, k in enumerate(found) if k and k not in found[:i]]


def verify_with_keys(chain_pem: str, keys: Sequence[K], ca_pem: bytes, *,
                     expected_names: tuple[str, ...], end_date: datetime.datetime | None,
                     key_source: str, clock_skew: float) -> tuple[VerifiedCertificate, K]:
    """Verify a chain against each candidate key (see :func:`candidate_keys`); the first that
    matches wins. Any other defect stops at once: a second key would not cure it."""
    if not keys:
        raise CycleError("KeyMissing", f"no private key in {key_source}")
    error: VerificationError | None = None
    for key_pem in keys:
        try:
            cert = verify_certificate(chain_pem, key_pem, ca_pem,
                                      expected_names=expected_names or None,
                                      end_date=end_date, clock_skew=clock_skew)
            return cert, key_pem
        except VerificationError as exc:
            error = exc
            if exc.reason != "KeyMismatch":
                break
    assert error is not None
    raise CycleError(error.reason, error.message)


#: GETs a star-certificate URL, trusting the CA bundle given (:func:`download`; a fake CA in
#: unit tests).
Download = Callable[[str, bytes], Awaitable[acme.StarFetch]]


async def download(url: str, ca_pem: bytes) -> acme.StarFetch:
    """The CA's current certificate at ``url``, on the operator's shared HTTP session."""
    ctx = sessions.ssl_context(ca_pem)
    return await acme.fetch_star_certificate(sessions.http_session(), url, ssl_context=ctx)


async def run_cycle(namespace: str, name: str, spec: Mapping[str, Any], *,
                    claim: ownership.Claim, clock_skew: float = 5.0,
                    installed: CycleResult | None = None, handed: bytes | None = None,
                    store: writer.SecretStore = writer.API_SERVER,
                    fetch: Download = download) -> CycleResult:
    """Fetch the current certificate and, if it verifies, install it as ``claim.owner`` (a
    Secret held by another owner is refused, ``SecretConflict``, and left as it was).

    ``installed`` is this object's previous successful cycle: when the CA still serves that
    very chain (it has not published the next one yet) and it is still valid, nothing is read,
    verified or written again, so re-polls around a publication cost one GET at the CA. A new
    chain is verified against the Secret as that cycle left it and written over that very
    version (its resourceVersion makes the PUT conditional), so a rotation costs one PUT and no
    GET. Whatever changed the Secret since, a key staged (verification fails), any other write
    (409) or a deletion (404), sends the cycle back to a fresh read, where the key is checked
    again: a Secret deleted under the loop is never re-created from the remembered copy, whose
    key went with it. ``handed``: the Secret as the StarOrder's staging of the key left it
    (:mod:`star_operator.secrets.handoff`), used the same way by a first cycle, which then
    reads nothing either. ``store`` (Secrets read and written) and ``fetch`` (the CA) are fakes
    in unit tests.
    """
    inputs = await resolve_inputs(namespace, spec, store=store)
    with metrics.time_acme("star-certificate-get"):
        fetched = await fetch(inputs.url, inputs.ca_pem)
    if (installed is not None and fetched.chain_pem == installed.fetched.chain_pem
            and installed.certificate.not_after > timeutil.utcnow()):
        return dataclasses.replace(installed, fetched=fetched, secret_changed=False)
    own_key = inputs.key_secret_name == inputs.secret_name
    who = payload.SecretIdentity(certificate_name=name, issuer_name=inputs.issuer_name,
                                 star_certificate_url=inputs.url)

    async def install(key_secret: Mapping[str, Any] | None, *,
                      remembered: bool) -> CycleResult:
        try:
            cert, key_pem = verify_with_keys(
                fetched.chain_pem, candidate_keys(key_secret, inputs.key_field), inputs.ca_pem,
                expected_names=inputs.expected_names, end_date=inputs.end_date,
                clock_skew=clock_skew, key_source=f"Secret {inputs.key_secret_name} "
                                                  f"({inputs.key_field!r} or {c.STAGED_KEY!r})")
            result = await write_verified(
                namespace, inputs.secret_name, cert, key_pem, inputs.ca_pem, who, claim=claim,
                adopt_unmanaged=own_key, known=key_secret if own_key else writer.UNREAD,
                reread_on_conflict=not remembered, store=store)
        except CycleError as exc:
            if remembered and exc.reason in KEY_REASONS:
                raise _SecretChanged() from exc
            raise
        except (k8s.Conflict, k8s.NotFound) as exc:
            if remembered:
                raise _SecretChanged() from exc
            raise
        return CycleResult(certificate=cert, fetched=fetched, secret_changed=result.changed,
                           secret=handoff.compact(result.secret, REWRITTEN) if own_key else None)

    remembered = installed.secret if installed is not None else handed
    if own_key and remembered is not None:
        try:
            return await install(json.loads(remembered), remembered=True)
        except _SecretChanged:
            pass
    return await install(await store.get_secret(namespace, inputs.key_secret_name),
                         remembered=False)


async def write_verified(namespace: str, secret_name: str, cert: VerifiedCertificate,
                         key_pem: bytes | None, ca_pem: bytes | None,
                         who: payload.SecretIdentity, *,
                         claim: ownership.Claim, adopt_unmanaged: bool = False,
                         known: writer.Known = writer.UNREAD, reread_on_conflict: bool = True,
                         store: writer.SecretStore = writer.API_SERVER) -> writer.WriteResult:
    """Install a verified chain with the key it was verified against, in one write (None:
    certificate only, the key is elsewhere); a refusal is a :class:`CycleError` naming why
    (another owner, or the API server said no). ``known``, ``reread_on_conflict``: as in
    :func:`~star_operator.secrets.writer.write_secret`."""
    material = payload.TlsMaterial(chain_pem=pem.dump_chain(cert.chain), key_pem=key_pem,
                                   ca_pem=ca_pem)
    try:
        return await writer.write_tls_secret(namespace, secret_name, material,
                                             payload.certificate_annotations(cert, who),
                                             claim=claim, adopt_unmanaged=adopt_unmanaged,
                                             known=known, reread_on_conflict=reread_on_conflict,
                                             store=store)
    except writer.SecretConflictError as exc:
        raise CycleError("SecretConflict", str(exc)) from exc
    except writer.SecretWriteError as exc:
        raise CycleError("SecretWriteFailed", str(exc)) from exc

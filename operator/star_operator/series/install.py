"""Install one certificate of an emulated series: download, verify, one atomic Secret write.

The same checks as a STAR fetch (:mod:`star_operator.renewal.fetcher`): the leaf matches a key
the Secret holds (the staged key of a rotation, else the current one), the chain reaches the CA
bundle, the names are the ordered ones. Not the end-date: a CA without STAR cannot shorten a
certificate, so the last one of a series may run past it (the status says so instead).

For a StarOrder with an outside CSR (``spec.csr``) the leaf must carry that CSR's public key,
and the Secret gets the certificate only (``tls.crt``, ``ca.crt``): the key is elsewhere.
"""

from __future__ import annotations

import dataclasses
import ssl
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from star_operator import acme, k8s, metrics
from star_operator import constants as c
from star_operator.renewal.fetcher import (CycleError, candidate_keys, verify_with_keys,
                                           write_verified)
from star_operator.secrets import ownership, payload
from star_operator.verify import KeyRef, VerifiedCertificate


@dataclasses.dataclass(frozen=True)
class Target:
    """Where a series' certificates go and what they must look like."""

    namespace: str
    order_name: str
    secret_name: str
    names: tuple[str, ...]
    issuer_name: str
    ca_pem: bytes | None
    #: The StarOrder, as the Secret's owner.
    claim: ownership.Claim
    #: ``spec.csr``'s key: certificates must carry it and are installed without a key.
    public_key: PublicKeyTypes | None = None


def trust_roots(ca_pem: bytes | None) -> bytes:
    """The roots a chain must reach: the template's CA bundle, else the system's (a public CA)."""
    if ca_pem:
        return ca_pem
    cafile = ssl.get_default_verify_paths().cafile
    if not cafile or not Path(cafile).exists():
        raise CycleError("CABundleMissing", "no spec.acme.caBundleSecretRef and no system CA "
                                            "bundle to verify the CA's chain against")
    return Path(cafile).read_bytes()


async def install(client: acme.AcmeClient, certificate_url: str, target: Target, *,
                  clock_skew: float) -> VerifiedCertificate:
    """Download ``certificate_url`` and, if it verifies, make it the Secret's certificate.

    Raises :class:`CycleError` (the Secret untouched) when it does not verify or cannot be
    written; the reason names which.
    """
    with metrics.time_acme("download"):
        chain_pem = await client.download_certificate(certificate_url)
    secret = await k8s.get_secret(target.namespace, target.secret_name)
    if target.public_key is not None:
        keys: list[KeyRef] = [target.public_key]
        source = "spec.csr"
    else:
        keys, source = list(candidate_keys(secret, c.TLS_KEY)), (
            f"Secret {target.secret_name} ({c.TLS_KEY!r} or {c.STAGED_KEY!r})")
    cert, key = verify_with_keys(chain_pem, keys, trust_roots(target.ca_pem),
                                 expected_names=target.names, end_date=None,
                                 clock_skew=clock_skew, key_source=source)
    who = payload.SecretIdentity(certificate_name=target.order_name,
                                 issuer_name=target.issuer_name)
    await write_verified(target.namespace, target.secret_name, cert,
                         key if isinstance(key, bytes) else None, target.ca_pem, who,
                         claim=target.claim, known=secret)
    return cert

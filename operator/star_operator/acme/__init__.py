"""Async ACME client (RFC 8555) with STAR support (RFC 8739), built on aiohttp and certbot's `acme`.

The DNO side uses `AcmeClient` (account, STAR orders, dns-01, finalize, cancel, revoke); a CDN
that only knows a `star-certificate` URL uses the module-level `fetch_star_certificate`.
Contract: docs/INTERFACES.md, section `star_operator.acme`.
"""

from .ari import RenewalInfo, cert_id
from .client import AcmeClient
from .eab import EabCredentials, EabError
from .errors import (
    AcmeConnectionError,
    AcmeError,
    AcmeProblem,
    AcmeProtocolError,
    AcmeTimeout,
    AcmeTlsError,
)
from .models import (Authorization, AutoRenewal, Challenge, Delegation, Directory, Order,
                     StarFetch, StarMeta)
from .star_fetch import fetch_star_certificate

__all__ = [
    "AcmeClient",
    "AcmeConnectionError",
    "AcmeError",
    "AcmeProblem",
    "AcmeProtocolError",
    "AcmeTimeout",
    "AcmeTlsError",
    "Authorization",
    "AutoRenewal",
    "Challenge",
    "Delegation",
    "Directory",
    "EabCredentials",
    "EabError",
    "Order",
    "RenewalInfo",
    "StarFetch",
    "StarMeta",
    "cert_id",
    "fetch_star_certificate",
]

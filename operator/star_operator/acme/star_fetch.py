"""Fetching the current certificate from a `star-certificate` URL (RFC 8739 §3.3–3.4, §4.3).

Usable without an ACME account: a CDN that was only handed the URL (RFC 9115 §2.2 step 6)
calls the module-level `fetch_star_certificate`. The account holder's client reuses
`parse_star_response` for POST-as-GET. After cancellation or end-date the CA answers 403 with
`autoRenewalCanceled` / `autoRenewalExpired`, which surfaces as `AcmeProblem`.
"""

from __future__ import annotations

import os
import ssl
from datetime import datetime

import aiohttp
from cryptography import x509

from .errors import AcmeProtocolError
from .headers import fresh_until, parse_http_date
from .http import PEM_CHAIN_CONTENT_TYPE, HttpResponse, send
from .models import StarFetch
from .tls import ssl_context as make_ssl_context


def _leaf_validity(chain_pem: str, url: str) -> tuple[datetime, datetime]:
    try:
        certs = x509.load_pem_x509_certificates(chain_pem.encode())
    except ValueError as exc:
        raise AcmeProtocolError(f"{url} returned no parsable PEM certificate chain: {exc}") from exc
    leaf = certs[0]
    return leaf.not_valid_before_utc, leaf.not_valid_after_utc


def parse_star_response(resp: HttpResponse) -> StarFetch:
    """Build a `StarFetch` from a successful response (GET or POST-as-GET).

    Validity comes from `Cert-Not-Before` / `Cert-Not-After`, which RFC 8739 requires to equal
    the certificate's own fields; when a server omits them (or sends garbage) the leaf
    certificate is read instead, so callers always get both dates.
    """
    chain_pem = resp.body.decode("ascii", "replace")
    if "-----BEGIN CERTIFICATE-----" not in chain_pem:
        raise AcmeProtocolError(f"{resp.url} returned no PEM certificate chain")
    not_before = parse_http_date(resp.headers.get("Cert-Not-Before"))
    not_after = parse_http_date(resp.headers.get("Cert-Not-After"))
    if not_before is None or not_after is None:
        leaf_before, leaf_after = _leaf_validity(chain_pem, resp.url)
        not_before = not_before or leaf_before
        not_after = not_after or leaf_after
    return StarFetch(
        chain_pem=chain_pem,
        not_before=not_before,
        not_after=not_after,
        fresh_until=fresh_until(resp.headers, resp.received_at),
    )


async def fetch_star_certificate(
    session: aiohttp.ClientSession | None,
    url: str,
    ca_bundle: str | os.PathLike[str] | None = None,
    *,
    ssl_context: ssl.SSLContext | None = None,
) -> StarFetch:
    """Unauthenticated GET of a `star-certificate` URL (needs `allow-certificate-get`).

    `ca_bundle` (PEM text or path) is what the CA's HTTPS certificate must chain to; a
    ready-made `ssl_context` may be passed instead. With `session=None` a short-lived session
    is opened for this one fetch. Raises `AcmeProblem` for the CA's errors (e.g. 403
    `autoRenewalCanceled`) and `AcmeConnectionError` / `AcmeTlsError` for network failures.
    """
    ctx = ssl_context or make_ssl_context(ca_bundle)
    if session is None:
        async with aiohttp.ClientSession() as own:
            return await fetch_star_certificate(own, url, ssl_context=ctx)
    headers = {"Accept": PEM_CHAIN_CONTENT_TYPE}
    resp = await send(session, "GET", url, ssl_context=ctx, headers=headers)
    resp.raise_for_problem()
    return parse_star_response(resp)

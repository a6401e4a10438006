"""One HTTP exchange with an ACME server, with network failures turned into typed errors.

Both the signed transport and the unauthenticated STAR fetch go through `send()`, so a refused
connection, a timeout or a certificate that does not verify always surfaces as
`AcmeConnectionError` / `AcmeTlsError` naming the URL, never as a raw aiohttp exception.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping

import aiohttp
from multidict import CIMultiDictProxy

from .errors import (AcmeConnectionError, AcmeProblem, AcmeProtocolError, AcmeTlsError,
                     problem_from_body)
from .headers import parse_retry_after

DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=30, connect=10)
USER_AGENT = "star-operator-acme/0.1"
PEM_CHAIN_CONTENT_TYPE = "application/pem-certificate-chain"


@dataclass(frozen=True)
class HttpResponse:
    """A fully read response plus the client-side time it arrived (for freshness maths)."""

    url: str
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes
    received_at: datetime

    @property
    def ok(self) -> bool:
        """2xx."""
        return 200 <= self.status < 300

    @property
    def location(self) -> str | None:
        """The `Location` header (URL of a created account or order)."""
        return self.headers.get("Location")

    def json(self) -> Any:
        """The body as JSON; a protocol error naming the URL if it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise AcmeProtocolError(f"{self.url} returned non-JSON body: {exc}") from exc

    def problem(self) -> AcmeProblem:
        """The error answer as an `AcmeProblem`, with its `Retry-After` (rate limits, 503)."""
        problem = problem_from_body(self.status, self.body, self.url)
        problem.retry_after = parse_retry_after(self.headers.get("Retry-After"),
                                                self.received_at)
        return problem

    def raise_for_problem(self) -> None:
        """Raise the server's `AcmeProblem` for any non-2xx answer."""
        if not self.ok:
            raise self.problem()


async def send(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    ssl_context: ssl.SSLContext,
    headers: Mapping[str, str] | None = None,
    data: bytes | None = None,
    timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT,
) -> HttpResponse:
    """Perform one request and read the whole body. Redirects are not followed (ACME has none)."""
    all_headers = {"User-Agent": USER_AGENT, **(headers or {})}
    try:
        async with session.request(
            method,
            url,
            headers=all_headers,
            data=data,
            ssl=ssl_context,
            timeout=timeout,
            allow_redirects=False,
        ) as resp:
            body = await resp.read()
            return HttpResponse(url, resp.status, resp.headers, body, datetime.now(timezone.utc))
    except aiohttp.ClientConnectorCertificateError as exc:
        raise AcmeTlsError(
            url,
            f"TLS certificate verification failed ({exc.certificate_error}); "
            "is the CA bundle the one that signed this server's certificate?",
        ) from exc
    except aiohttp.ClientSSLError as exc:
        raise AcmeTlsError(url, f"TLS handshake failed: {exc}") from exc
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
        reason = str(exc) or type(exc).__name__
        raise AcmeConnectionError(url, reason) from exc

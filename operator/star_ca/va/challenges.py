"""dns-01 and http-01 checks (RFC 8555 §8.3, §8.4). Each returns None on success or raises
ValidationFailure carrying the ACME error type the client should see."""
from __future__ import annotations

import asyncio
import hashlib

import aiohttp
from josepy.json_util import encode_b64jose

from star_ca.va.resolver import DnsClient, DnsLookupError

MAX_HTTP01_BODY = 4096


class ValidationFailure(Exception):
    def __init__(self, type_: str, detail: str) -> None:
        super().__init__(detail)
        self.type = type_
        self.detail = detail


def dns01_value(key_authorization: str) -> str:
    return encode_b64jose(hashlib.sha256(key_authorization.encode()).digest())


async def validate_dns01(dns: DnsClient, domain: str, key_authorization: str) -> None:
    name = f"_acme-challenge.{domain}"
    try:
        values = await dns.txt(name)
    except DnsLookupError as exc:
        raise ValidationFailure("dns", f"DNS problem: {exc}") from None
    expected = dns01_value(key_authorization)
    if expected not in values:
        found = ", ".join(repr(v) for v in values) or "no TXT records"
        raise ValidationFailure("unauthorized",
                                f"TXT {name}: expected {expected!r}, found {found}")


async def validate_http01(session: aiohttp.ClientSession, dns: DnsClient | None, domain: str,
                          port: int, token: str, key_authorization: str,
                          timeout: float) -> None:
    """GET http://domain:port/.well-known/acme-challenge/token; addresses come from the
    configured DNS server when there is one (so test names resolve like real ones)."""
    host = domain
    if dns is not None:
        try:
            addresses = await dns.addresses(domain)
        except DnsLookupError as exc:
            raise ValidationFailure("dns", f"DNS problem: {exc}") from None
        if not addresses:
            raise ValidationFailure("dns", f"no A/AAAA records for {domain}")
        host = f"[{addresses[0]}]" if ":" in addresses[0] else addresses[0]
    url = f"http://{host}:{port}/.well-known/acme-challenge/{token}"
    try:
        async with session.get(url, headers={"Host": domain}, allow_redirects=False,
                               timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
            body = await resp.content.read(MAX_HTTP01_BODY)
            status = resp.status
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
        raise ValidationFailure("connection",
                                f"fetching {url} for {domain}: "
                                f"{exc or type(exc).__name__}") from None
    if status != 200:
        raise ValidationFailure("unauthorized", f"{url} for {domain} answered HTTP {status}")
    text = body.decode(errors="replace").rstrip()
    if text != key_authorization:
        raise ValidationFailure("incorrectResponse",
                                f"{url} for {domain} returned {text[:100]!r}, "
                                f"expected {key_authorization!r}")

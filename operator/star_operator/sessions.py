"""Process-wide HTTP resources for talking to CAs.

One aiohttp session (connection pooling across 1,000 StarCertificates on the same CA) and one
SSL context per distinct CA bundle (building a context parses PEM and is not free). Both are
tied to the running event loop, so tests and KopfRunner threads each get their own.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl

import aiohttp

from star_operator.acme.tls import ssl_context as _make_ssl_context

_sessions: dict[int, aiohttp.ClientSession] = {}
_ssl: dict[str, ssl.SSLContext] = {}


def ssl_context(ca_pem: bytes | str | None) -> ssl.SSLContext:
    """A verifying context trusting ``ca_pem`` (system roots if None), cached by content."""
    text = ca_pem.decode("ascii") if isinstance(ca_pem, bytes) else ca_pem
    key = hashlib.sha256((text or "").encode()).hexdigest()
    ctx = _ssl.get(key)
    if ctx is None:
        ctx = _ssl[key] = _make_ssl_context(text)
    return ctx


def http_session() -> aiohttp.ClientSession:
    """The shared session of the current event loop."""
    loop_id = id(asyncio.get_running_loop())
    session = _sessions.get(loop_id)
    if session is None or session.closed:
        session = _sessions[loop_id] = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=100))
    return session


async def close_all() -> None:
    """Close the session of the current loop (operator cleanup)."""
    session = _sessions.pop(id(asyncio.get_running_loop()), None)
    if session is not None:
        await session.close()

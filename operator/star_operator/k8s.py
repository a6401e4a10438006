"""A small async Kubernetes REST client on aiohttp, using the credentials kopf logged in with.

Why not the ``kubernetes`` package: it is synchronous (a thread per call) and its pydantic models
cost memory and CPU on every call; at 1,000 StarOrders the operator makes thousands of small
Secret and status calls. kopf already resolved the credentials (``@kopf.on.login``); reusing
them keeps one login path and one aiohttp stack.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import aiohttp
import kopf

from star_operator import constants

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"

#: Parallel connections to the API server. Each write waits for etcd's fsync, so latency, not
#: CPU, bounds a small pool: at 1,000 objects 64 connections queued requests for tens of
#: seconds, while etcd commits concurrent writes together.
CONNECTION_LIMIT = 192
#: Bounds on the exchange itself, not on the wait for a pooled connection: a request queued
#: behind others is not a failure (a ``total`` timeout counted that wait and turned a busy
#: moment into a wave of errors and retries).
TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=30)


class ApiError(Exception):
    """A non-2xx answer from the API server (or a 2xx whose body is not JSON)."""

    def __init__(self, status: int, reason: str, message: str, body: Any = None) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.body = body


class NotFound(ApiError):
    """404."""


class Conflict(ApiError):
    """409: resourceVersion precondition failed or the object already exists."""


class TooManyRequests(ApiError):
    """429: the API server (priority and fairness) or a proxy in front of it sheds load."""


class ServerError(ApiError):
    """5xx: the API server, or a proxy or load balancer in front of it (a 502 page), failed."""


class InvalidResponse(ApiError):
    """A success status whose body is not JSON: something other than the API server answered
    (a proxy's or captive portal's page); ``status`` is the answer's own."""


#: What a call to the API server may fail with that a later attempt can get past: an error
#: answer (5xx and 429 above all, typed whether or not their body was JSON, and a success that
#: did not carry JSON), or the connection (refused during a restart, reset, timed out).
TRANSIENT_ERRORS = (ApiError, aiohttp.ClientError, OSError)

#: How much of a body that is not JSON an error message quotes.
BODY_EXCERPT = 200


def error_class(status: int) -> type[ApiError]:
    """The :class:`ApiError` subclass for an HTTP status."""
    if status >= 500:
        return ServerError
    return {404: NotFound, 409: Conflict, 429: TooManyRequests}.get(status, ApiError)


def excerpt(text: str, limit: int = BODY_EXCERPT) -> str:
    """The start of a body, on one line (an HTML page's line breaks and indentation folded)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit] + "..."


def decode_answer(status: int, status_reason: str, text: str, content_type: str = "") -> Any:
    """The JSON an answer carries, or the typed :class:`ApiError` it stands for.

    ``status_reason`` is the HTTP status line's phrase ("Bad Gateway"); an error answer whose
    body is a Kubernetes ``Status`` gives its own reason and message instead. An error body
    that is not JSON (a proxy's HTML page) still gives the class its status calls for, with the
    start of the body as the message.
    """
    try:
        payload: Any = jsonlib.loads(text) if text else None
    except ValueError:  # json.JSONDecodeError: an HTML or plain-text page
        if status < 300:
            kind = f" ({content_type})" if content_type else ""
            raise InvalidResponse(status, "InvalidResponse",
                                  f"expected JSON from the API server, got{kind}: "
                                  f"{excerpt(text)}") from None
        raise error_class(status)(status, status_reason, excerpt(text)) from None
    if status < 300:
        return payload
    if isinstance(payload, dict):
        reason = payload.get("reason") or status_reason
        message = payload.get("message") or excerpt(text)
    else:
        reason, message = status_reason, excerpt(text)
    raise error_class(status)(status, str(reason), str(message), payload)


class KubeClient:
    """One aiohttp session bound to the event loop that first used it."""

    def __init__(self, info: kopf.ConnectionInfo) -> None:
        self._info = info
        self._server = info.server.rstrip("/")
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            connector = aiohttp.TCPConnector(ssl=self._info.as_ssl_context(),
                                             limit=CONNECTION_LIMIT)
            headers = {"Accept": "application/json", **self._info.as_http_headers()}
            self._session = aiohttp.ClientSession(
                connector=connector, headers=headers, timeout=TIMEOUT)
            self._loop = loop
        return self._session

    async def close(self) -> None:
        """Close the session (operator cleanup, test teardown)."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def request(self, method: str, path: str, *, body: Any = None,
                      content_type: str = "application/json",
                      params: Mapping[str, str] | None = None) -> Any:
        """Send one request; return the decoded JSON; raise :class:`ApiError` on failure (see
        :func:`decode_answer`)."""
        session = self._get_session()
        data = None if body is None else jsonlib.dumps(body)
        headers = {"Content-Type": content_type} if data is not None else None
        async with session.request(method, self._server + path, data=data, headers=headers,
                                   params=params) as resp:
            raw = await resp.read()
            text = raw.decode(resp.get_encoding(), errors="replace") if raw else ""
            return decode_answer(resp.status, resp.reason or "", text, resp.content_type)


_client: KubeClient | None = None


def configure(info: kopf.ConnectionInfo) -> KubeClient:
    """Install the process-wide client (called from the operator's login handler)."""
    global _client
    _client = KubeClient(info)
    return _client


def client() -> KubeClient:
    """The process-wide client; fails clearly if login has not happened."""
    if _client is None:
        raise RuntimeError("Kubernetes client not configured: kopf login has not run")
    return _client


# ---------------------------------------------------------------------------------- paths

def secret_path(namespace: str, name: str | None = None) -> str:
    """REST path of core/v1 Secrets."""
    base = f"/api/v1/namespaces/{quote(namespace)}/secrets"
    return f"{base}/{quote(name)}" if name else base


def custom_path(plural: str, namespace: str | None, name: str | None = None,
                subresource: str | None = None) -> str:
    """REST path of one of our custom resources (namespaced unless ``namespace`` is None)."""
    base = f"/apis/{constants.GROUP}/{constants.VERSION}"
    if namespace is not None:
        base += f"/namespaces/{quote(namespace)}"
    path = f"{base}/{plural}"
    if name:
        path += f"/{quote(name)}"
    if subresource:
        path += f"/{subresource}"
    return path


# ---------------------------------------------------------------------------------- helpers

async def get_secret(namespace: str, name: str) -> dict[str, Any] | None:
    """The Secret, or None if it does not exist."""
    try:
        return await client().request("GET", secret_path(namespace, name))
    except NotFound:
        return None


async def create_secret(namespace: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """Create; raises :class:`Conflict` if it already exists."""
    return await client().request("POST", secret_path(namespace), body=dict(body))


async def replace_secret(namespace: str, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """PUT; ``body.metadata.resourceVersion`` makes it conditional (409 if someone else won)."""
    return await client().request("PUT", secret_path(namespace, name), body=dict(body))


async def delete_secret(namespace: str, name: str) -> None:
    """Delete, ignoring an already-deleted Secret."""
    try:
        await client().request("DELETE", secret_path(namespace, name))
    except NotFound:
        pass


async def get_object(plural: str, namespace: str | None, name: str) -> dict[str, Any] | None:
    """One of our custom objects, or None."""
    try:
        return await client().request("GET", custom_path(plural, namespace, name))
    except NotFound:
        return None


async def create_object(plural: str, namespace: str | None,
                        body: Mapping[str, Any]) -> dict[str, Any]:
    """Create one of our custom objects."""
    return await client().request("POST", custom_path(plural, namespace), body=dict(body))


async def patch_object(plural: str, namespace: str | None, name: str,
                       patch: Mapping[str, Any]) -> dict[str, Any]:
    """Merge-patch the main resource (spec/metadata) of one of our objects."""
    return await client().request("PATCH", custom_path(plural, namespace, name),
                                  body=dict(patch), content_type=MERGE_PATCH)


async def json_patch_status(plural: str, namespace: str | None, name: str,
                            ops: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """JSON-patch ``/status`` (RFC 6902): a ``test`` op makes the whole write conditional on
    what the object holds, atomically and without a read first."""
    return await client().request("PATCH", custom_path(plural, namespace, name, "status"),
                                  body=[dict(op) for op in ops], content_type=JSON_PATCH)


async def patch_status(plural: str, namespace: str | None, name: str,
                       patch: Mapping[str, Any]) -> dict[str, Any]:
    """Merge-patch ``/status`` right away.

    Used instead of kopf's end-of-handler patch wherever losing the write in a crash would
    matter (the order URL right after newOrder, the key before the order).
    """
    return await client().request("PATCH", custom_path(plural, namespace, name, "status"),
                                  body={"status": dict(patch)}, content_type=MERGE_PATCH)

"""`HttpGate`: an HTTPS relay in front of star-ca that holds chosen requests until told what to
do with them, so a test can stop the operator at an exact step of an issuance.

Why a relay and not a hook in the operator: the steps of an issuance (newOrder, answering the
challenge, finalize, the certificate fetch) are each one ACME request, so holding the request
that starts a step stops the operator right before it, with every earlier step done and
recorded, with no test-only code in the operator. After the test has killed the operator, a
held request is either dropped (the CA never saw it) or forwarded (the CA acts on it and its
answer is lost with the dead client: the crash-after-send case).

The gate terminates TLS with star-ca's own serving certificate (it names 127.0.0.1, so clients
keep verifying against the CA's root) and forwards with the client's Host header: star-ca builds
every URL it hands out from that header, so orders, authorizations and the star-certificate URL
all point at the gate and every later request passes through it too.
"""
from __future__ import annotations

import asyncio
import dataclasses
import re
import ssl
import threading
import time
from pathlib import Path
from types import TracebackType

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

from star_devenv.faults_loop import BackgroundLoop
from star_devenv.processes import free_port

#: Request headers the CA needs; everything else (hop-by-hop, Host) is set by the gate.
_FORWARDED_REQUEST = ("content-type", "accept", "user-agent", "accept-language")
#: Response headers aiohttp recomputes for the relayed body.
_NOT_RELAYED = ("content-length", "transfer-encoding", "connection", "content-encoding",
                "keep-alive")


@dataclasses.dataclass
class HeldRequest:
    """One request the gate is holding: what a test decides about."""

    method: str
    path: str
    body: bytes
    since: float
    decision: asyncio.Future[bool] = dataclasses.field(repr=False)

    @property
    def decided(self) -> bool:
        return self.decision.done()


class HttpGate:
    """``https://127.0.0.1:<port>`` relaying to star-ca's ``upstream`` base URL.

    ``hold(method, path_regex)`` makes matching requests wait; ``held()`` lists them;
    ``release(request, forward=...)`` lets one through or drops it; ``open()`` removes every
    rule and drops whatever is still held.
    """

    def __init__(self, upstream: str, *, cert_chain: Path, key: Path, ca_file: Path,
                 port: int | None = None) -> None:
        self.upstream = upstream.rstrip("/")
        self.port = port or free_port()
        self._cert_chain, self._key, self._ca_file = cert_chain, key, ca_file
        self._rules: list[tuple[str, re.Pattern[str]]] = []
        self._held: list[HeldRequest] = []
        self._lock = threading.Lock()
        self._loop = BackgroundLoop("http-gate")
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def directory_url(self) -> str:
        return f"{self.base_url}/directory"

    # ------------------------------------------------------------------ test API
    def hold(self, method: str, path_pattern: str) -> None:
        """Hold every later request with this method whose path matches ``path_pattern``."""
        with self._lock:
            self._rules.append((method.upper(), re.compile(path_pattern)))

    def held(self, path_pattern: str = "") -> list[HeldRequest]:
        """Requests held and not yet decided, oldest first, optionally by path."""
        pattern = re.compile(path_pattern)
        with self._lock:
            return [r for r in self._held if not r.decided and pattern.search(r.path)]

    def release(self, request: HeldRequest, *, forward: bool) -> None:
        """Forward ``request`` to the CA (its answer goes to the client if still there) or drop
        it (the CA never sees it)."""
        self._loop.call(_decide, request.decision, forward)

    def open(self) -> None:
        """No more holding: rules removed, every still-held request dropped."""
        with self._lock:
            self._rules.clear()
            pending = [r for r in self._held if not r.decided]
        for request in pending:
            self.release(request, forward=False)

    # ----------------------------------------------------------------- lifecycle
    def start(self) -> HttpGate:
        self._loop.start()
        self._loop.run(self._start())
        return self

    def stop(self) -> None:
        self.open()
        self._loop.run(self._stop())
        self._loop.stop()

    def __enter__(self) -> HttpGate:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    async def _start(self) -> None:
        server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_ctx.load_cert_chain(self._cert_chain, self._key)
        client_ctx = ssl.create_default_context(cafile=str(self._ca_file))
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client_ctx))
        app = web.Application(client_max_size=1 << 20)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, ssl_context=server_ctx).start()

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    # ------------------------------------------------------------------- relaying
    def _matches(self, method: str, path: str) -> bool:
        with self._lock:
            return any(m == method and p.search(path) for m, p in self._rules)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        if self._matches(request.method, request.path):
            held = HeldRequest(request.method, request.path, body, time.monotonic(),
                               asyncio.get_running_loop().create_future())
            with self._lock:
                self._held.append(held)
            if not await held.decision:
                return web.Response(status=502, text="dropped by the fault gate")
        # Shielded: a forwarded request reaches the CA even if its client has gone meanwhile.
        return await asyncio.shield(self._forward(request, body))

    async def _forward(self, request: web.Request, body: bytes) -> web.Response:
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() in _FORWARDED_REQUEST}
        headers["Host"] = request.host  # star-ca's URLs keep pointing at the gate
        async with self._session.request(request.method, self.upstream + request.path_qs,
                                         data=body, headers=headers,
                                         allow_redirects=False) as resp:
            data = await resp.read()
            relayed = CIMultiDict((k, v) for k, v in resp.headers.items()
                                  if k.lower() not in _NOT_RELAYED)
            return web.Response(status=resp.status, body=data, headers=relayed)


def _decide(future: asyncio.Future[bool], forward: bool) -> None:
    if not future.done():
        future.set_result(forward)

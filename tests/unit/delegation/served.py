"""The front end's real aiohttp app over real HTTPS on loopback, in a thread of its own, with
a :class:`FakeCluster` behind it: lets the synchronous test NDC speak to it as to the
deployed server."""
from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from aiohttp import web

from star_ca.wfe.nonces import NonceStore
from star_devenv.pki import write_self_signed_server_cert
from star_devenv.processes import free_port
from star_operator.delegation.__main__ import tls_context
from star_operator.delegation.app import make_app
from star_operator.delegation.config import Config
from star_operator.delegation.urls import Services
from tests.unit.delegation.fake_cluster import FakeCluster


@contextmanager
def serve(cluster: FakeCluster, tmp: Path) -> Iterator[str]:
    """Yield the base URL; the server stops afterwards."""
    cert, key = tmp / "tls.crt", tmp / "tls.key"
    write_self_signed_server_cert(cert, key, ["localhost"], ["127.0.0.1"])
    port = free_port()
    base = f"https://127.0.0.1:{port}"
    cfg = Config(namespace=cluster.namespace, tls_cert=cert, tls_key=key, base_url=base)
    app = make_app(Services(cfg, NonceStore(), cluster))  # type: ignore[arg-type]
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", port, ssl_context=tls_context(cfg))
        loop.run_until_complete(site.start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(10), "front end did not start"
    try:
        yield base
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()

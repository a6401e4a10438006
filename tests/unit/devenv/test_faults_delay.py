"""DelayProxy (the fault harness's latency relay) on loopback: a round trip through it takes at
least twice the delay, bytes arrive complete and in order, and an upstream that is not there
ends the client's connection instead of hanging it."""
from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator

import pytest

from star_devenv.faults_delay import DelayProxy
from star_devenv.faults_loop import BackgroundLoop
from star_devenv.processes import free_port

DELAY = 0.2


@pytest.fixture
def echo_port() -> Iterator[int]:
    """A TCP echo server in a loop of its own."""
    loop = BackgroundLoop("echo")
    loop.start()

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()

    server = loop.run(asyncio.start_server(echo, "127.0.0.1", 0))
    yield server.sockets[0].getsockname()[1]
    server.close()
    loop.stop()


def round_trip(port: int, payload: bytes) -> tuple[bytes, float]:
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received, time.monotonic() - start


def test_round_trip_takes_twice_the_delay_and_keeps_the_bytes(echo_port: int) -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB: several chunks each way
    with DelayProxy(("127.0.0.1", echo_port), DELAY) as proxy:
        received, elapsed = round_trip(proxy.port, payload)
    assert received == payload
    assert elapsed >= 2 * DELAY
    assert elapsed < 2 * DELAY + 3  # latency, not a chunk-by-chunk crawl
    assert proxy.connections == 1


def test_upstream_down_closes_the_client() -> None:
    with DelayProxy(("127.0.0.1", free_port()), DELAY) as proxy:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
            try:  # the proxy hangs up: an orderly end or a reset, never a hang (the timeout)
                received = sock.recv(65536)
            except ConnectionResetError:
                received = b""
    assert received == b""

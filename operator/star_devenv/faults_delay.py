"""`DelayProxy`: a TCP relay that adds a fixed latency to each direction, the honest substitute
for ``tc qdisc ... netem delay`` on a kernel without netem (see
shared/reference/fault-injection.md).

Every chunk read from one side is written to the other ``delay`` seconds after it arrived, in
order; chunks do not wait for each other, so the relay adds latency without limiting
throughput. TLS passes through untouched: the client still verifies the server's certificate
(star-ca's names 127.0.0.1, where the relay listens) and sends its own Host header, from which
star-ca builds the URLs it hands out, so every later request comes back through the relay.
"""
from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType

from star_devenv.faults_loop import BackgroundLoop
from star_devenv.processes import free_port

CHUNK = 64 * 1024


class DelayProxy:
    """``127.0.0.1:<port>`` relaying to ``upstream`` (host, port) with ``delay`` seconds added
    to each direction; ``connections`` counts the client connections relayed."""

    def __init__(self, upstream: tuple[str, int], delay: float, port: int | None = None) -> None:
        self.upstream, self.delay = upstream, delay
        self.port = port or free_port()
        self.connections = 0
        self._loop = BackgroundLoop("delay-proxy")
        self._server: asyncio.Server | None = None
        self._relays: set[asyncio.Task[None]] = set()  # ended at stop: the loop closes after

    def start(self) -> DelayProxy:
        self._loop.start()
        self._loop.run(self._start())
        return self

    def stop(self) -> None:
        self._loop.run(self._stop())
        self._loop.stop()

    def __enter__(self) -> DelayProxy:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in self._relays:
            task.cancel()
        await asyncio.gather(*self._relays, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self._relays.add(task)
        task.add_done_callback(self._relays.discard)
        try:
            up_reader, up_writer = await self._connect()
        except OSError:
            writer.close()
            return
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            for w in (writer, up_writer):
                w.close()

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(*self.upstream)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Copy one direction, each chunk released ``delay`` after it was read; EOF too."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def release() -> None:
            while True:
                due, chunk = await queue.get()
                await asyncio.sleep(max(0.0, due - loop.time()))
                if not chunk:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                writer.write(chunk)
                await writer.drain()

        sender = asyncio.create_task(release())
        try:
            while chunk := await reader.read(CHUNK):
                queue.put_nowait((loop.time() + self.delay, chunk))
        except ConnectionError:
            pass
        finally:
            queue.put_nowait((loop.time() + self.delay, b""))
            with contextlib.suppress(ConnectionError, OSError):
                await sender


"""`Balancer`: a round-robin TCP load balancer on loopback, what a Service puts in front of
star-ca replicas (tests/integration/star_ca/test_ca_replicas.py). It is the delaying relay of
star_devenv.faults_delay with no delay and a choice of upstream per connection."""
from __future__ import annotations

import asyncio

from star_devenv.faults_delay import DelayProxy


class Balancer(DelayProxy):
    """A TCP load balancer in front of star-ca replicas: each client connection goes to the
    next of ``upstreams`` in turn, and past one that refuses connections (killed) to the next,
    as a Service's kube-proxy does once the dead endpoint is gone. ``per_upstream`` counts the
    connections each got."""

    def __init__(self, upstreams: list[tuple[str, int]], port: int | None = None) -> None:
        super().__init__(upstreams[0], 0.0, port)
        self.upstreams = list(upstreams)
        self.per_upstream = [0] * len(upstreams)
        self._turn = 0

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        error: OSError | None = None
        for _ in self.upstreams:
            index = self._turn % len(self.upstreams)
            self._turn += 1
            try:
                opened = await asyncio.open_connection(*self.upstreams[index])
            except OSError as exc:
                error = exc
                continue
            self.per_upstream[index] += 1
            return opened
        assert error is not None
        raise error

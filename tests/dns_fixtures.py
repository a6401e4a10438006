"""Session fixture for a real BIND 9 authoritative server (star_devenv.dns.LocalDNS).

One server per test session on 127.0.0.1 and a free port, serving the test zone ``star.test``
and a second zone ``delegate.test`` (target zone for CNAME-delegated challenge names), both
updatable by RFC 2136 with the server's TSIG key. Tests that change records use names of their
own so they do not see each other's changes. Teardown stops named by PID and removes its files.
"""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from star_devenv.dns import LocalDNS


@pytest.fixture(scope="session")
def dns_server() -> Iterator[LocalDNS]:
    with LocalDNS("star.test", extra_zones=["delegate.test"]) as server:
        yield server

"""Module fixture for Debian's Pebble (star_devenv.pebble.LocalPebble), a CA nobody here wrote.

Module-scoped because Pebble keeps all state in memory and makes a new issuing root per start:
one module's accounts, orders and roots stay its own. It validates dns-01 against the session's
BIND 9, so the project's RFC 2136 solver is what answers its challenges.
"""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from star_devenv.dns import LocalDNS
from star_devenv.pebble import LocalPebble


@pytest.fixture(scope="module")
def pebble(dns_server: LocalDNS) -> Iterator[LocalPebble]:
    with LocalPebble(dns_server=dns_server.server) as server:
        yield server

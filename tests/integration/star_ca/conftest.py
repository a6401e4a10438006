"""Fixtures for the CA's integration tests: one BIND 9 (shared session fixture), one http-01
responder, and one CA subprocess per module talking real HTTPS."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from ca_testclient import Client, Http01Responder, unique

from star_devenv.ca import LocalCA
from tests.dns_fixtures import dns_server  # noqa: F401  (shared BIND 9 session fixture)


@pytest.fixture(scope="session")
def http01() -> Iterator[Http01Responder]:
    responder = Http01Responder()
    yield responder
    responder.close()


@pytest.fixture(scope="module")
def ca(dns_server: Any, http01: Http01Responder) -> Iterator[LocalCA]:  # noqa: F811
    with LocalCA(dns_server=dns_server.server, http01_port=http01.port, min_lifetime=1,
                 max_duration=3600) as local_ca:
        yield local_ca


@pytest.fixture
def new_client(ca: LocalCA) -> Callable[..., Client]:
    def make(register: bool = True, **kw: Any) -> Client:
        c = Client(ca.directory_url, str(ca.root_pem_path), **kw)
        if register:
            assert c.register().status_code == 201
        return c
    return make


@pytest.fixture
def client(new_client: Callable[..., Client]) -> Client:
    return new_client()


@pytest.fixture
def host(dns_server: Any) -> Callable[[str], str]:  # noqa: F811
    """A fresh name under star.test with an A record to 127.0.0.1 (for http-01)."""
    def make(prefix: str = "h") -> str:
        name = unique(prefix)
        dns_server.set_records(name, "A", ["127.0.0.1"])
        return name
    return make


@pytest.fixture
def http01_present(http01: Http01Responder) -> Callable[[str, str, str], None]:
    def present(domain: str, token: str, value: str) -> None:
        http01.tokens[token] = value
    return present


@pytest.fixture
def dns01_present(dns_server: Any) -> Callable[[str, str, str], None]:  # noqa: F811
    def present(domain: str, token: str, value: str) -> None:
        dns_server.add_records(f"_acme-challenge.{domain}", "TXT", [f'"{value}"'])
    return present

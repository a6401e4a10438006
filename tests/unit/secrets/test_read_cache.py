"""The short-lived cache of a CsrTemplate's Secrets (secrets.read_cache.TtlSecretCache) over a
fake store: reads served within the TTL (absent Secrets too), read again after it or after
forget(), and writes passed through with the entry dropped."""

from __future__ import annotations

import asyncio

from star_operator.secrets.read_cache import TtlSecretCache
from tests.unit.ordering.fakes import FakeSecrets


def _secret(name: str, value: str) -> dict[str, object]:
    return {"metadata": {"name": name, "namespace": "ns"}, "data": {"k": value}}


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_reads_are_served_for_the_ttl_then_read_again() -> None:
    store, clock = FakeSecrets(_secret("tsig", "a")), Clock()
    cache = TtlSecretCache(store, ttl=30.0, clock=clock)
    first = asyncio.run(cache.get_secret("ns", "tsig"))
    clock.now += 29.0
    assert asyncio.run(cache.get_secret("ns", "tsig")) == first
    assert store.calls == ["get tsig"]
    store.secrets["tsig"] = _secret("tsig", "b")  # rotated by the DNO
    clock.now += 1.0
    assert asyncio.run(cache.get_secret("ns", "tsig")) == _secret("tsig", "b")
    assert store.calls == ["get tsig", "get tsig"]


def test_an_absent_secret_is_remembered_and_forget_drops_only_what_it_names() -> None:
    store, clock = FakeSecrets(_secret("acct", "x")), Clock()
    cache = TtlSecretCache(store, ttl=30.0, clock=clock)
    for _ in range(2):
        assert asyncio.run(cache.get_secret("ns", "missing")) is None
        asyncio.run(cache.get_secret("ns", "acct"))
    assert store.calls == ["get missing", "get acct"]
    cache.forget([("ns", "missing")])
    asyncio.run(cache.get_secret("ns", "missing"))
    asyncio.run(cache.get_secret("ns", "acct"))
    assert store.calls == ["get missing", "get acct", "get missing"]


def test_writes_pass_through_and_the_next_read_sees_them() -> None:
    store, clock = FakeSecrets(), Clock()
    cache = TtlSecretCache(store, ttl=30.0, clock=clock)
    assert asyncio.run(cache.get_secret("ns", "acct")) is None
    asyncio.run(cache.create_secret("ns", _secret("acct", "new")))
    assert asyncio.run(cache.get_secret("ns", "acct"))["data"] == {"k": "new"}  # type: ignore
    asyncio.run(cache.replace_secret("ns", "acct", _secret("acct", "newer")))
    assert asyncio.run(cache.get_secret("ns", "acct"))["data"] == {"k": "newer"}  # type: ignore
    assert store.calls == ["get acct", "create acct", "get acct", "replace acct", "get acct"]

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


def test_reads_missing_together_share_one_get() -> None:
    store, clock = FakeSecrets(_secret("tsig", "a")), Clock()
    cache = TtlSecretCache(store, ttl=30.0, clock=clock)

    async def burst() -> list[dict[str, object] | None]:
        return await asyncio.gather(*(cache.get_secret("ns", "tsig") for _ in range(20)))

    assert asyncio.run(burst()) == [_secret("tsig", "a")] * 20
    assert store.calls == ["get tsig"]


class GatedSecrets(FakeSecrets):
    """Reads wait for ``gate``; ``fail`` makes them raise instead."""

    def __init__(self, *secrets: dict[str, object]) -> None:
        super().__init__(*secrets)
        self.gate = asyncio.Event()
        self.fail: Exception | None = None

    async def get_secret(self, namespace: str, name: str) -> dict[str, object] | None:
        await self.gate.wait()
        if self.fail is not None:
            self.calls.append(f"get {name} (failed)")
            raise self.fail
        return await super().get_secret(namespace, name)


def test_a_read_under_way_when_forgotten_is_not_kept() -> None:
    async def scenario() -> None:
        store = GatedSecrets(_secret("tsig", "a"))
        cache = TtlSecretCache(store, ttl=30.0, clock=Clock())
        waiting = asyncio.ensure_future(cache.get_secret("ns", "tsig"))
        await asyncio.sleep(0)  # the read has started and waits at the gate
        cache.forget([("ns", "tsig")])  # something using the old value failed meanwhile
        store.secrets["tsig"] = _secret("tsig", "b")
        store.gate.set()
        await waiting
        assert await cache.get_secret("ns", "tsig") == _secret("tsig", "b")
        assert store.calls == ["get tsig", "get tsig"]

    asyncio.run(scenario())


def test_a_failed_read_reaches_every_waiter_and_is_not_kept() -> None:
    async def scenario() -> None:
        store = GatedSecrets(_secret("tsig", "a"))
        store.fail = ConnectionResetError("API server restarting")
        cache = TtlSecretCache(store, ttl=30.0, clock=Clock())
        waiters = [asyncio.ensure_future(cache.get_secret("ns", "tsig")) for _ in range(3)]
        await asyncio.sleep(0)
        store.gate.set()
        results = await asyncio.gather(*waiters, return_exceptions=True)
        assert all(isinstance(r, ConnectionResetError) for r in results)
        store.fail = None
        assert await cache.get_secret("ns", "tsig") == _secret("tsig", "a")
        assert store.calls == ["get tsig (failed)", "get tsig"]

    asyncio.run(scenario())

"""The CA's store on both backends, SQLite (the embedded default) and a real PostgreSQL
server, with what replicas sharing one database rely on: renewals claimed so that no position
is signed twice and none is left behind (two stores on one PostgreSQL database are two
replicas), a cancellation winning over a renewal in flight, a finalize taken once, nonces that
any replica accepts exactly once, and schema creation by replicas starting together."""
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
import pytest

from star_ca.db import CertRow, Order, Series, Store, open_sqlite, open_store
from star_ca.wfe.nonces import NONCE_LIFETIME, SharedNonces
from star_devenv.postgres import LocalPostgres
from tests.postgres_fixtures import postgres  # noqa: F401  (session PostgreSQL)

OpenStore = Callable[[], Awaitable[Store]]


@pytest.fixture(params=["sqlite", "postgres"])
async def open_replica(request: pytest.FixtureRequest, tmp_path: Path
                       ) -> AsyncIterator[OpenStore]:
    """Opens one more store on the same database: a second replica's on PostgreSQL; on SQLite
    the same file again (one process only, the tests that need two say so)."""
    opened: list[Store] = []
    if request.param == "postgres":
        url = request.getfixturevalue("postgres").database()

        async def make() -> Store:
            opened.append(await open_store(url, tmp_path / "unused.sqlite3"))
            return opened[-1]
    else:
        async def make() -> Store:
            if not opened:
                opened.append(open_sqlite(tmp_path / "ca.sqlite3"))
            return opened[0]
    yield make
    for store in opened:
        await store.close()


def _order(i: int, status: str = "valid") -> Order:
    return Order(f"o{i}", "acct", status, time.time() + 3600, [f"n{i}.star.test"], None,
                 f"c{i}", "https://ca.test", {"end-date": "2099-01-01T00:00:00Z",
                                             "lifetime": 60}, f"tok{i}")


def _series(i: int, due: float) -> Series:
    return Series(f"o{i}", b"csr", {f"n{i}.star.test": "dns-01"}, 0, 0, 4_000_000_000, 60, 0,
                  next_seq=1, next_due=due, stopped=False)


def _cert(order_id: str, seq: int) -> CertRow:
    return CertRow(f"{order_id}-{seq}", f"{order_id}{seq:04x}", order_id, "acct", seq, "pem",
                   0.0, 1.0, None)


async def _with_series(store: Store, count: int, due: float) -> None:
    for i in range(count):
        order = _order(i)
        await store.create_order(order, [], [], time.time())
        await store.finish_order(order, _cert(order.id, 0), _series(i, due))


async def test_due_series_are_claimed_once(open_replica: OpenStore) -> None:
    store = await open_replica()
    now = time.time()
    await _with_series(store, 6, now - 1)
    first = await store.claim_due_series(now, 4, "a", lease=30)
    second = await store.claim_due_series(now, 10, "b", lease=30)
    assert len(first) == 4 and len(second) == 2
    assert {s.order_id for s in first}.isdisjoint(s.order_id for s in second)
    assert await store.claim_due_series(now, 10, "c", lease=30) == []  # all leased
    # a lease that ran out (its replica died) is taken over: a quarter of the 60 s lifetime
    assert await store.claim_due_series(now + 14, 10, "c", lease=30) == []
    taken = await store.claim_due_series(now + 16, 10, "c", lease=30)
    assert {s.order_id for s in taken} == {f"o{i}" for i in range(6)}


async def test_only_the_lease_holder_commits(open_replica: OpenStore) -> None:
    store = await open_replica()
    now = time.time()
    await _with_series(store, 1, now - 1)
    [s] = await store.claim_due_series(now, 10, "a", lease=5)
    [again] = await store.claim_due_series(now + 6, 10, "b", lease=5)  # a was too slow
    s.next_seq, s.next_due = 2, now + 30
    assert await store.save_renewals("a", [_cert("o0", 1)], [s], []) == set()
    again.next_seq, again.next_due = 2, now + 30
    assert await store.save_renewals("b", [_cert("o0", 1)], [again], []) == {"o0"}
    assert (await store.published_cert("o0", 2.0)) == _cert("o0", 1)
    series = await store.series("o0")
    assert series is not None and (series.next_seq, series.next_due) == (2, now + 30)
    [released] = await store.claim_due_series(now + 31, 10, "c", lease=5)  # b let go of it
    assert released.next_seq == 2


async def test_a_cancellation_wins_over_a_renewal_in_flight(open_replica: OpenStore) -> None:
    store, peer = await open_replica(), await open_replica()
    now = time.time()
    await _with_series(store, 1, now - 1)
    [s] = await store.claim_due_series(now, 10, "a", lease=30)
    cancelled = _order(0, "canceled")
    await peer.stop_series(cancelled)  # on the other replica, during a's CAA lookups
    s.next_seq = 2
    assert await store.save_renewals("a", [_cert("o0", 1)], [s], []) == set()
    assert await store.published_cert("o0", 2.0) == _cert("o0", 0)  # no certificate added
    series = await store.series("o0")
    assert series is not None and series.stopped and series.next_seq == 1


async def test_concurrent_claims_never_overlap(postgres: LocalPostgres,  # noqa: F811
                                               tmp_path: Path) -> None:
    """Two replicas claiming at the same moment, many times over: each series goes to one."""
    url = postgres.database()
    a, b = (await open_store(url, tmp_path / "x"), await open_store(url, tmp_path / "x"))
    try:
        now = time.time()
        await _with_series(a, 200, now - 1)
        ids: list[str] = []
        for _ in range(20):  # rounds of 8 claims at once, until every series is taken
            claims = await asyncio.gather(*(store.claim_due_series(now, 10, name, lease=30)
                                            for _ in range(4) for name, store in
                                            (("a", a), ("b", b))))
            ids += [s.order_id for batch in claims for s in batch]
            if not any(claims):
                break
        assert len(ids) == len(set(ids)) == 200  # each series to exactly one claim
    finally:
        await a.close()
        await b.close()


async def test_a_finalize_is_taken_once(open_replica: OpenStore) -> None:
    store, peer = await open_replica(), await open_replica()
    order = _order(7, "ready")
    await store.create_order(order, [], [], time.time())
    results = await asyncio.gather(store.begin_processing(order, b"csr", time.time()),
                                   peer.begin_processing(_order(7, "ready"), b"csr", time.time()))
    assert sorted(results) == [False, True]


async def test_shared_nonces_across_replicas(postgres: LocalPostgres,  # noqa: F811
                                             tmp_path: Path) -> None:
    url = postgres.database()
    a, b = await open_store(url, tmp_path / "x"), await open_store(url, tmp_path / "x")
    try:
        na, nb = await SharedNonces.open(a), await SharedNonces.open(b)
        nonce = na.new()
        assert await nb.consume(nonce)  # minted by one replica, used at the other
        assert not await na.consume(nonce) and not await nb.consume(nonce)  # replays
        forged = nonce[:-2] + ("AA" if nonce[-2:] != "AA" else "BB")
        assert not await nb.consume(forged)
        assert not await nb.consume("not base64 !")
        clock = [time.time()]
        old = SharedNonces(a, await a.get_meta("nonce_hmac_key") or b"", lambda: clock[0])
        stale = old.new()
        clock[0] += NONCE_LIFETIME + 1
        assert not await old.consume(stale)  # expired
        assert await old.consume(old.new())
    finally:
        await a.close()
        await b.close()


async def test_replicas_creating_the_schema_together(postgres: LocalPostgres,  # noqa: F811
                                                     tmp_path: Path) -> None:
    url = postgres.database()
    stores = await asyncio.gather(*(open_store(url, tmp_path / "x") for _ in range(4)))
    try:
        await asyncio.gather(*(s.add_meta({"k": bytes([i])}) for i, s in enumerate(stores)))
        values = {await s.get_meta("k") for s in stores}
        assert len(values) == 1  # the first writer's value, everywhere
    finally:
        for s in stores:
            await s.close()


async def test_newer_postgres_schema_is_refused(postgres: LocalPostgres,  # noqa: F811
                                                tmp_path: Path) -> None:
    url = postgres.database()
    await (await open_store(url, tmp_path / "x")).close()
    postgres.psql("UPDATE schema_version SET version = version + 1", url.rsplit("/", 1)[1])
    with pytest.raises(RuntimeError, match="newer"):
        await open_store(url, tmp_path / "x")


def test_a_bad_database_url_names_no_password(tmp_path: Path) -> None:
    with pytest.raises(ValueError) as err:
        asyncio.run(open_store("mysql://u:hunter2@h/db", tmp_path / "x"))
    assert "hunter2" not in str(err.value)



async def test_next_due_skips_leased_series_until_their_lease_ends(
        open_replica: OpenStore) -> None:
    """A scheduler sleeps until the next series it could claim, or until a peer's lease on an
    earlier one runs out (the peer may have died), never busy-waits on a leased one."""
    store = await open_replica()
    now = time.time()
    await _with_series(store, 2, now - 1)
    assert await store.next_due(now) == now - 1
    await store.claim_due_series(now, 2, "peer", lease=5)  # both leased until now + 5
    assert await store.next_due(now) == pytest.approx(now + 5)
    assert await store.next_due(now + 6) == now - 1  # the lease ran out: due again

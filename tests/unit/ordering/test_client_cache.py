"""The operator's ACME client cache (one registered client per CsrTemplate / StarIssuer) and the
context that owns it, with fake clients: reuse while the settings are the same, one
registration under concurrency, replacement and closing when they change or go."""

from __future__ import annotations

import asyncio
import copy
from typing import cast

import kopf
import pytest

from star_operator import acme, context, main
from star_operator.config import Config
from star_operator.ordering.client_cache import AccountClients, fingerprint


class FakeClient:
    """The part of AcmeClient the cache touches: ``account_url`` and ``close``."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.account_url: str | None = None
        self.closed = False

    async def close(self) -> None:
        self.closed = True


class FakeCa:
    """Builds numbered clients and registers them; can refuse; counts newAccount calls."""

    def __init__(self) -> None:
        self.built: list[FakeClient] = []
        self.registrations = 0
        self.refuse: Exception | None = None
        #: Set to make a registration wait (to line concurrent callers up behind it).
        self.gate: asyncio.Event | None = None

    def build(self) -> acme.AcmeClient:
        client = FakeClient(len(self.built))
        self.built.append(client)
        return cast(acme.AcmeClient, client)

    async def register(self, client: acme.AcmeClient) -> None:
        self.registrations += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.refuse is not None:
            raise self.refuse
        client.account_url = f"https://ca.test/acct/{cast(FakeClient, client).n}"


async def _get(cache: AccountClients[str], ca: FakeCa, fp: str,
               key: str = "dno") -> FakeClient:
    return cast(FakeClient, await cache.get(key, fp, ca.build, ca.register))


async def test_same_fingerprint_reuses_the_registered_client() -> None:
    cache: AccountClients[str] = AccountClients()
    ca = FakeCa()
    first = await _get(cache, ca, "fp1")
    assert await _get(cache, ca, "fp1") is first
    assert ca.registrations == 1 and len(cache) == 1 and not first.closed


async def test_keys_are_separate() -> None:
    cache: AccountClients[str] = AccountClients()
    ca = FakeCa()
    a, b = await _get(cache, ca, "fp", "a"), await _get(cache, ca, "fp", "b")
    assert a is not b and ca.registrations == 2 and len(cache) == 2


async def test_changed_fingerprint_registers_anew_and_closes_the_old_client() -> None:
    cache: AccountClients[str] = AccountClients()
    ca = FakeCa()
    old = await _get(cache, ca, "fp1")
    new = await _get(cache, ca, "fp2")
    assert new is not old and ca.registrations == 2
    assert old.closed and not new.closed
    assert cache.cached("dno") is cast(acme.AcmeClient, new) and len(cache) == 1


async def test_concurrent_callers_register_once() -> None:
    cache: AccountClients[str] = AccountClients()
    ca = FakeCa()
    ca.gate = asyncio.Event()
    callers = [asyncio.ensure_future(_get(cache, ca, "fp")) for _ in range(20)]
    await asyncio.sleep(0)  # all of them are waiting now, one inside the registration
    ca.gate.set()
    clients = await asyncio.gather(*callers)
    assert ca.registrations == 1 and len(ca.built) == 1
    assert all(client is clients[0] for client in clients)


async def test_a_refused_registration_closes_its_client_and_keeps_the_previous_one() -> None:
    """The StarIssuer path cancels Order1s with :meth:`cached` once its Secrets are gone, so a
    failed re-registration must not take the last good client away."""
    cache: AccountClients[str] = AccountClients()
    ca = FakeCa()
    good = await _get(cache, ca, "fp1")
    ca.refuse = acme.AcmeError("refused")
    with pytest.raises(acme.AcmeError):
        await _get(cache, ca, "fp2")
    assert ca.built[-1].closed and not good.closed
    assert cache.cached("dno") is cast(acme.AcmeClient, good)
    ca.refuse = None  # the next attempt tries again rather than remembering the refusal
    assert await _get(cache, ca, "fp2") is ca.built[-1] and good.closed


async def test_forget_and_close_all_close_the_clients() -> None:
    cache: AccountClients[str] = AccountClients()
    ca = FakeCa()
    a, b, c = [await _get(cache, ca, "fp", key) for key in "abc"]
    await cache.forget("a")
    await cache.forget("never-seen")
    assert a.closed and not b.closed and cache.cached("a") is None and len(cache) == 2
    await cache.close_all()
    assert b.closed and c.closed and len(cache) == 0
    assert await _get(cache, ca, "fp", "a") is ca.built[-1]  # usable after forget


def test_fingerprint_separates_parts() -> None:
    assert fingerprint(b"ab", b"c") != fingerprint(b"a", b"bc")
    assert fingerprint(b"a", b"") == fingerprint(b"a", b"")


async def test_the_context_travels_in_kopfs_memo_and_closes_at_cleanup() -> None:
    memo = kopf.Memo()
    with pytest.raises(RuntimeError, match="startup handler has not run"):
        context.of(memo)
    ctx = context.OperatorContext.create(Config(max_concurrent_issuances=3))
    context.install(memo, ctx)
    per_object = copy.copy(memo)  # what kopf hands each object's handlers
    assert context.of(per_object) is ctx
    ca = FakeCa()
    template = await _get(ctx.templates, ca, "fp")
    issuer = cast(FakeClient, await ctx.issuers.get(("cdn", "fe"), "fp", ca.build, ca.register))
    assert main.accounts_probe(memo=per_object) == 1  # liveness: CsrTemplates' accounts
    await main.cleanup(memo=memo)
    assert template.closed and issuer.closed and len(ctx.templates) == 0

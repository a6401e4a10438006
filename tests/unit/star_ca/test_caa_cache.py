"""CAA answers kept within their TTL (star_ca.va.caa.CaaChecker over star_ca.ttl_cache.TtlCache):
what is asked of DNS and when, with a fake DNS server and a clock the test moves. The real
lookups against BIND 9 are in tests/integration/star_ca/test_ca_caa.py."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest
from dns.rdtypes.ANY.CAA import CAA
from star_ca.ttl_cache import TtlCache
from star_ca.va.caa import CaaChecker
from star_ca.va.resolver import DnsLookupError, DnsRefused

ME = ("star-ca.test",)
ACCT = "https://ca.test/acme/acct/1"


def caa(value: str, tag: str = "issue") -> CAA:
    return CAA("IN", "CAA", 0, tag.encode(), value.encode())  # type: ignore[arg-type]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class FakeDns:
    """Zone ``zone.test`` served; anything above it REFUSED; answers with their TTL."""

    records: dict[str, tuple[list[CAA], int]] = field(default_factory=dict)
    negative_ttl: int = 60
    failing: set[str] = field(default_factory=set)
    asked: list[str] = field(default_factory=list)

    async def caa(self, name: str) -> tuple[list[CAA], int]:
        self.asked.append(name)
        if name in self.failing:
            raise DnsLookupError(f"SERVFAIL {name}")
        if not name.endswith("zone.test"):
            raise DnsRefused(f"refused {name}")
        return self.records.get(name, ([], self.negative_ttl))


def checker(dns: FakeDns, clock: Clock, max_ttl: float = 3600) -> CaaChecker:
    fake: Any = dns
    return CaaChecker(fake, ME, max_ttl, TtlCache(clock=clock))


def check(c: CaaChecker, name: str, method: str = "dns-01") -> str | None:
    return asyncio.run(c.check(name, account_uri=ACCT, method=method))


def test_climb_is_asked_once_within_ttl_and_again_after() -> None:
    dns, clock = FakeDns(), Clock()
    c = checker(dns, clock)
    assert check(c, "a.zone.test") is None
    assert dns.asked == ["a.zone.test", "zone.test", "test"]
    assert check(c, "a.zone.test") is None
    assert check(c, "b.zone.test") is None  # the parents are shared by every name
    assert dns.asked == ["a.zone.test", "zone.test", "test", "b.zone.test"]
    clock.now += 60  # the negative TTL ran out: all of it is asked again
    assert check(c, "a.zone.test") is None
    assert dns.asked[4:] == ["a.zone.test", "zone.test", "test"]


def test_change_is_obeyed_once_the_ttl_of_the_old_answer_ran_out() -> None:
    dns, clock = FakeDns(), Clock()
    dns.records["x.zone.test"] = ([caa("star-ca.test")], 5)
    c = checker(dns, clock)
    assert check(c, "x.zone.test") is None
    dns.records["x.zone.test"] = ([caa("other.test")], 5)
    clock.now += 4.9
    assert check(c, "x.zone.test") is None  # still within the old answer's TTL
    clock.now += 0.1
    reason = check(c, "x.zone.test")
    assert reason is not None and "other.test" in reason


def test_rfc8657_parameters_of_a_cached_answer_still_decide() -> None:
    dns, clock = FakeDns(), Clock()
    dns.records["p.zone.test"] = (
        [caa(f"star-ca.test; accounturi={ACCT}; validationmethods=dns-01")], 300)
    c = checker(dns, clock)
    assert check(c, "p.zone.test") is None
    assert "excludes http-01" in (check(c, "p.zone.test", method="http-01") or "")
    other = asyncio.run(c.check("p.zone.test", account_uri=ACCT[:-1] + "2", method="dns-01"))
    assert other is not None and "accounturi" in other
    assert dns.asked == ["p.zone.test"]


def test_max_ttl_caps_and_zero_turns_keeping_off() -> None:
    dns, clock = FakeDns(), Clock()
    dns.records["m.zone.test"] = ([caa("star-ca.test")], 86400)
    c = checker(dns, clock, max_ttl=10)
    check(c, "m.zone.test")
    clock.now += 10
    check(c, "m.zone.test")
    assert dns.asked == ["m.zone.test", "m.zone.test"]
    off = checker(dns, clock, max_ttl=0)
    check(off, "m.zone.test")
    check(off, "m.zone.test")
    assert dns.asked[2:] == ["m.zone.test", "m.zone.test"]


def test_failures_are_not_kept_and_refusal_of_the_name_itself_raises() -> None:
    dns, clock = FakeDns(failing={"f.zone.test"}), Clock()
    c = checker(dns, clock)
    with pytest.raises(DnsLookupError):
        check(c, "f.zone.test")
    dns.failing.clear()
    assert check(c, "f.zone.test") is None
    assert dns.asked.count("f.zone.test") == 2
    with pytest.raises(DnsRefused):
        check(c, "elsewhere.example")
    with pytest.raises(DnsRefused):
        check(c, "elsewhere.example")  # never kept: asked again


def test_negative_answer_without_soa_is_not_kept() -> None:
    dns, clock = FakeDns(negative_ttl=0), Clock()
    c = checker(dns, clock)
    check(c, "n.zone.test")
    check(c, "n.zone.test")
    assert dns.asked == ["n.zone.test", "zone.test", "test"] * 2


def test_ttl_cache_is_bounded_and_drops_the_oldest() -> None:
    clock = Clock()
    cache: TtlCache[str, int] = TtlCache(capacity=2, clock=clock)
    cache.put("a", 1, clock.now + 10)
    cache.put("b", 2, clock.now + 10)
    cache.put("c", 3, clock.now + 10)
    assert cache.get("a") is None and cache.get("c") == (3, clock.now + 10)
    cache.put("d", 4, clock.now)  # already expired: not kept, and "d" is not there
    assert cache.get("d") is None and len(cache) == 2

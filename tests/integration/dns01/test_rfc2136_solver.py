"""The RFC 2136 dns-01 solver against the real BIND 9 of the dev harness (tests/dns_fixtures.py).

Every test uses names of its own under star.test / delegate.test so tests stay independent on the
session-wide server.
"""
from __future__ import annotations

import asyncio
import base64
import secrets
import socket
import time

import pytest

from star_devenv.dns import LocalDNS
from star_operator.dns01 import ChallengeSolver, Dns01Error, DnsFailure, Rfc2136Solver

pytestmark = pytest.mark.dns


def make_solver(dns_server: LocalDNS, **overrides) -> Rfc2136Solver:
    kwargs = dict(
        server=dns_server.host,
        port=dns_server.port,
        tsig_key_name=dns_server.tsig_key_name,
        tsig_secret=dns_server.tsig_secret,
        tsig_algorithm=dns_server.tsig_algorithm,
        timeout=10.0,
    )
    kwargs.update(overrides)
    return Rfc2136Solver(**kwargs)


def served_txt(dns_server: LocalDNS, name: str) -> list[str]:
    return sorted(v.strip('"') for v in dns_server.query(name, "TXT"))


def random_value() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


def test_solver_satisfies_the_protocol(dns_server: LocalDNS) -> None:
    assert isinstance(make_solver(dns_server), ChallengeSolver)


@pytest.mark.parametrize(
    ("zone", "domain"),
    [(None, "basic.star.test"), ("star.test", "deep.sub.explicit.star.test")],
    ids=["zone-found-by-soa", "zone-configured"],
)
async def test_present_publishes_and_cleanup_removes(
    dns_server: LocalDNS, zone: str | None, domain: str
) -> None:
    solver = make_solver(dns_server, zone=zone)
    value = random_value()
    await solver.present(domain, value)
    # present() returned, so the authoritative server already answers with the value
    assert served_txt(dns_server, f"_acme-challenge.{domain}.") == [value]
    await solver.cleanup(domain, value)
    assert served_txt(dns_server, f"_acme-challenge.{domain}.") == []


async def test_wildcard_and_base_name_share_one_record_name(dns_server: LocalDNS) -> None:
    solver = make_solver(dns_server)
    base_value, wildcard_value = random_value(), random_value()
    await asyncio.gather(
        solver.present("shared.star.test", base_value),
        solver.present("*.shared.star.test", wildcard_value),
    )
    name = "_acme-challenge.shared.star.test."
    assert served_txt(dns_server, name) == sorted([base_value, wildcard_value])

    await solver.cleanup("*.shared.star.test", wildcard_value)
    assert served_txt(dns_server, name) == [base_value]
    await solver.cleanup("shared.star.test", base_value)
    assert served_txt(dns_server, name) == []


async def test_cleanup_removes_only_its_own_value(dns_server: LocalDNS) -> None:
    name = "_acme-challenge.others.star.test"
    foreign = "left-by-someone-else"
    dns_server.set_records(name, "TXT", [f'"{foreign}"'])
    solver = make_solver(dns_server)
    mine = random_value()
    await solver.present("others.star.test", mine)
    assert served_txt(dns_server, name) == sorted([foreign, mine])
    # a fresh solver (e.g. after an operator restart) has no cache and must still find the name
    await make_solver(dns_server).cleanup("others.star.test", mine)
    assert served_txt(dns_server, name) == [foreign]
    # cleaning up a value that is not there is harmless and touches nothing else
    await solver.cleanup("others.star.test", mine)
    assert served_txt(dns_server, name) == [foreign]


async def test_several_names_at_once(dns_server: LocalDNS) -> None:
    solver = make_solver(dns_server)
    domains = [f"multi{i}.star.test" for i in range(5)] + ["*.multi0.star.test"]
    values = {d: random_value() for d in domains}
    await asyncio.gather(*(solver.present(d, v) for d, v in values.items()))
    for i in range(1, 5):
        assert served_txt(dns_server, f"_acme-challenge.multi{i}.star.test.") == [
            values[f"multi{i}.star.test"]
        ]
    assert served_txt(dns_server, "_acme-challenge.multi0.star.test.") == sorted(
        [values["multi0.star.test"], values["*.multi0.star.test"]]
    )
    await asyncio.gather(*(solver.cleanup(d, v) for d, v in values.items()))
    for i in range(5):
        assert served_txt(dns_server, f"_acme-challenge.multi{i}.star.test.") == []


async def test_cname_delegated_challenge_name_into_another_zone(dns_server: LocalDNS) -> None:
    # The DNO points the challenge name at a zone made for ACME (the classic delegation trick);
    # the solver must update delegate.test, found by SOA walk, not star.test.
    dns_server.set_records(
        "_acme-challenge.cdn.star.test", "CNAME", ["cdn-star.challenges.delegate.test."]
    )
    solver = make_solver(dns_server)
    value = random_value()
    await solver.present("cdn.star.test", value)
    assert served_txt(dns_server, "cdn-star.challenges.delegate.test.") == [value]
    # nothing was written at the CNAME owner itself
    assert dns_server.query("_acme-challenge.cdn.star.test", "CNAME") == [
        "cdn-star.challenges.delegate.test."
    ]
    await solver.cleanup("cdn.star.test", value)
    assert served_txt(dns_server, "cdn-star.challenges.delegate.test.") == []


async def test_cname_delegation_with_configured_zone_outside_target(dns_server: LocalDNS) -> None:
    dns_server.set_records(
        "_acme-challenge.cdn2.star.test", "CNAME", ["hop1.delegate.test."]
    )
    dns_server.set_records("hop1.delegate.test", "CNAME", ["hop2.star.test."])
    solver = make_solver(dns_server, zone="delegate.test")
    value = random_value()
    await solver.present("*.cdn2.star.test", value)
    assert served_txt(dns_server, "hop2.star.test.") == [value]
    await solver.cleanup("*.cdn2.star.test", value)
    assert served_txt(dns_server, "hop2.star.test.") == []


async def test_cname_loop_is_reported(dns_server: LocalDNS) -> None:
    dns_server.set_records("_acme-challenge.loop.star.test", "CNAME", ["loop-b.star.test."])
    dns_server.set_records("loop-b.star.test", "CNAME", ["_acme-challenge.loop.star.test."])
    with pytest.raises(Dns01Error, match="CNAME loop") as info:
        await make_solver(dns_server).present("loop.star.test", random_value())
    assert info.value.reason is DnsFailure.UPDATE_FAILED


async def test_wrong_tsig_secret_is_a_clear_error(dns_server: LocalDNS) -> None:
    solver = make_solver(
        dns_server, tsig_secret=base64.b64encode(secrets.token_bytes(32)).decode()
    )
    with pytest.raises(Dns01Error) as info:
        await solver.present("badsecret.star.test", random_value())
    assert info.value.reason is DnsFailure.UPDATE_REFUSED
    assert dns_server.tsig_key_name in str(info.value)
    assert "BADSIG" in str(info.value)
    assert served_txt(dns_server, "_acme-challenge.badsecret.star.test.") == []


async def test_unknown_tsig_key_name_is_a_clear_error(dns_server: LocalDNS) -> None:
    solver = make_solver(dns_server, tsig_key_name="no-such-key")
    with pytest.raises(Dns01Error) as info:
        await solver.present("badkey.star.test", random_value())
    assert info.value.reason is DnsFailure.UPDATE_REFUSED
    assert "'no-such-key'" in str(info.value) and "BADKEY" in str(info.value)


async def test_wrong_tsig_algorithm_is_a_clear_error(dns_server: LocalDNS) -> None:
    solver = make_solver(dns_server, tsig_algorithm="hmac-sha512")
    with pytest.raises(Dns01Error) as info:
        await solver.present("badalg.star.test", random_value())
    assert info.value.reason is DnsFailure.UPDATE_REFUSED
    assert dns_server.tsig_key_name in str(info.value)


async def test_name_outside_served_zones_is_refused(dns_server: LocalDNS) -> None:
    with pytest.raises(Dns01Error, match="not authoritative") as info:
        await make_solver(dns_server).present("www.example.org", random_value())
    assert info.value.reason is DnsFailure.NOT_AUTHORITATIVE


async def test_update_refused_for_zone_the_server_does_not_serve(dns_server: LocalDNS) -> None:
    # With an explicit zone the solver skips discovery; BIND then refuses (NOTAUTH) the update.
    solver = make_solver(dns_server, zone="example.org")
    with pytest.raises(Dns01Error) as info:
        await solver.present("www.example.org", random_value())
    assert info.value.reason is DnsFailure.UPDATE_REFUSED
    assert "NOTAUTH" in str(info.value) or "REFUSED" in str(info.value)
    assert "example.org" in str(info.value)


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_server_down_fails_fast(dns_server: LocalDNS) -> None:
    solver = make_solver(dns_server, port=_closed_port(), timeout=30.0)
    started = time.monotonic()
    with pytest.raises(Dns01Error, match="cannot reach DNS server") as info:
        await solver.present("down.star.test", random_value())
    assert info.value.reason is DnsFailure.SERVER_UNREACHABLE
    assert time.monotonic() - started < 5


async def test_silent_server_times_out_within_the_deadline(dns_server: LocalDNS) -> None:
    # A listener that accepts TCP but never answers (a black-holed or wedged server).
    silent = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        solver = make_solver(
            dns_server, port=silent.getsockname()[1], timeout=1.5, query_timeout=1.0
        )
        started = time.monotonic()
        with pytest.raises(Dns01Error) as info:
            await solver.present("silent.star.test", random_value())
        assert info.value.reason is DnsFailure.SERVER_UNREACHABLE
        assert "no answer from DNS server" in str(info.value) or "deadline" in str(info.value)
        assert time.monotonic() - started < 4
    finally:
        silent.close()


async def test_server_given_by_host_name(dns_server: LocalDNS) -> None:
    first = socket.getaddrinfo("localhost", dns_server.port, type=socket.SOCK_STREAM)[0][4][0]
    if first != dns_server.host:
        pytest.skip(f"localhost resolves to {first} first here; BIND listens on {dns_server.host}")
    solver = make_solver(dns_server, server="localhost")
    value = random_value()
    await solver.present("byname.star.test", value)
    assert served_txt(dns_server, "_acme-challenge.byname.star.test.") == [value]
    await solver.cleanup("byname.star.test", value)


async def test_name_in_a_subzone_delegated_elsewhere_is_reported(dns_server: LocalDNS) -> None:
    dns_server.set_records("away", "NS", ["ns.elsewhere.example."])
    with pytest.raises(Dns01Error, match="delegated away") as info:
        await make_solver(dns_server).present("www.away.star.test", random_value())
    assert info.value.reason is DnsFailure.NOT_AUTHORITATIVE

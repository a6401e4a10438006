"""star-ca's disk full (its whole state directory on a small tmpfs the test fills): every request
that must write gets a clean ACME ``serverInternal`` problem (status 500, no traceback or
database internals), reads keep working, the process stays up, the database passes SQLite's
integrity check, and when space returns new orders complete and the running STAR series
publishes fresh certificates again."""
from __future__ import annotations

import sqlite3
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from star_devenv.ca import LocalCA
from star_devenv.dns import LocalDNS
from star_devenv.faults_disk import SmallDisk
from star_devenv.processes import is_alive
from star_operator.acme import AcmeClient, AcmeProblem, AutoRenewal
from star_operator.dns01 import Rfc2136Solver
from tests.integration.acme.star_helpers import leaf, make_csr, new_account_key
from tests.waiting import async_wait_for

pytestmark = pytest.mark.dns

LIFETIME = 2  # seconds: the series wants a new certificate every 2 s while the disk is full


def solver_for(dns: LocalDNS) -> Rfc2136Solver:
    return Rfc2136Solver(server=dns.host, port=dns.port, tsig_key_name=dns.tsig_key_name,
                         tsig_secret=dns.tsig_secret, tsig_algorithm=dns.tsig_algorithm,
                         timeout=20.0)


async def issue(client: AcmeClient, dns: LocalDNS, name: str) -> str:
    """A STAR order for ``name`` through to valid; its star-certificate URL."""
    end = datetime.now(timezone.utc) + timedelta(minutes=10)
    order = await client.new_order([name], AutoRenewal(end_date=end, lifetime=LIFETIME))
    await client.solve_authorizations(order, solver_for(dns))
    order = await client.finalize(order, make_csr([name])[1])
    assert order.status == "valid" and order.star_certificate
    return order.star_certificate


def assert_clean_internal_error(problem: AcmeProblem) -> None:
    assert problem.short_type == "serverInternal" and problem.status == 500, problem
    for internal in ("Traceback", "File \"", "sqlite", "OperationalError", "Errno"):
        assert internal not in problem.detail, problem.detail


def db_query(ca: LocalCA, sql: str) -> list[tuple]:
    conn = sqlite3.connect(f"file:{ca.data_dir / 'star-ca.sqlite3'}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


async def test_ca_disk_full_then_space_returns(fault_dns: LocalDNS, tmp_path: Path) -> None:
    zone = fault_dns.zone
    with SmallDisk(tmp_path / "ca", "16m") as disk, \
            LocalCA(data_dir=disk.path, dns_server=fault_dns.server, min_lifetime=1) as ca:
        async with AcmeClient(ca.directory_url, new_account_key(),
                              ca_bundle=str(ca.root_pem_path)) as client:
            await client.register()
            running = await issue(client, fault_dns, f"full-running.{zone}")

            assert disk.fill() > 0
            try:
                with pytest.raises(AcmeProblem) as refused_order:
                    await client.new_order([f"full-new.{zone}"],
                                           AutoRenewal(end_date=datetime.now(timezone.utc)
                                                       + timedelta(minutes=10),
                                                       lifetime=LIFETIME))
                assert_clean_internal_error(refused_order.value)
                async with AcmeClient(ca.directory_url, new_account_key(),
                                      ca_bundle=str(ca.root_pem_path)) as newcomer:
                    with pytest.raises(AcmeProblem) as refused_account:
                        await newcomer.register()
                assert_clean_internal_error(refused_account.value)
                assert (await client.fetch_star_certificate(running)).chain_pem  # reads work

                # The newest certificate's notBefore is when the series wants the next one:
                # keep the disk full past it, so a renewal falls due and cannot be stored.
                due = db_query(ca, "SELECT MAX(not_before) FROM certs")[0][0]

                async def renewal_failed() -> bool:
                    assert ca.pid is not None and is_alive(ca.pid), "star-ca exited"
                    return time.time() > due + 1.0
                await async_wait_for(renewal_failed, 2 * LIFETIME + 5, "a renewal to fall due")
                assert db_query(ca, "SELECT MAX(not_before) FROM certs")[0][0] == due
                assert db_query(ca, "PRAGMA integrity_check") == [("ok",)]
            finally:
                disk.free()

            await issue(client, fault_dns, f"full-after.{zone}")  # new orders complete again

            async def renewed_after_free() -> bool:
                fetched = await client.fetch_star_certificate(running)
                return leaf(fetched.chain_pem).not_valid_before_utc.timestamp() > due
            await async_wait_for(renewed_after_free, 20, "the series to publish again")
        assert ca.pid is not None and is_alive(ca.pid)
        assert db_query(ca, "PRAGMA integrity_check") == [("ok",)]

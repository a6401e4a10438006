"""How fast the STAR CA is: issuance flows, STAR renewals, star-certificate GET latency.

Run: .venv/bin/python bench/bench_ca.py [--only flows|star|get] [options]
     .venv/bin/python bench/bench_ca.py --only flows --peer pebble   # next to Pebble, see
                                                                   # bench/flows_vs_pebble.py
     .venv/bin/python bench/bench_ca.py --only flows --only star --database postgres \
         --replicas 1,2                             # star-ca on PostgreSQL, 1 then 2 replicas

Everything is real and on loopback: a `star-ca serve` subprocess (star_devenv.LocalCA) over
HTTPS, a BIND 9 (star_devenv.LocalDNS) the CA asks for dns-01 TXT and CAA records, and the
project's own async ACME client (star_operator.acme.AcmeClient) answering dns-01 by RFC 2136
update with its Rfc2136Solver, exactly as the operator does. dns-01 (not http-01) is the flow
this project exists for (the DNO owns the zone; CAA pins validationmethods=dns-01), so it is
what is measured. Each phase gets a fresh CA so they do not disturb each other.

With ``--database postgres`` the CA runs on a real PostgreSQL server (star_devenv.LocalPostgres,
a fresh database per phase) and ``--replicas 1,2`` repeats each phase with that many star-ca
processes on the one database; client i talks to replica i mod N (as DNS round robin would
spread them), the scheduler's renewals are shared by row claims, and "CA CPU" and "CA VmRSS"
are the sums over the replicas.

(a) flows: N clients, each with its own account (registered once, then reused), loop
    newOrder -> authz -> dns-01 (RFC 2136 update, challenge POST, poll) -> finalize ->
    download for --flows-seconds. Reports completed flows/s and per-flow latency. Each flow
    contains one Retry-After pause (the CA says 1 s while a challenge is processing and the
    client honours it), so latency is >= 1 s and throughput needs concurrency.
(b) star: creates --star-orders STAR orders (lifetime --star-lifetime s) through full flows,
    then counts certificates in the CA's database for --star-seconds: renewals/s sustained by
    the scheduler (each renewal re-checks CAA for its name against BIND, then signs ECDSA
    P-256). Demand is orders/lifetime; when the achieved rate equals the demand the scheduler
    kept up and the figure is a lower bound, not its ceiling.
(c) get: one STAR order with allow-certificate-get, then an open-loop unauthenticated GET load
    at --get-rate req/s for --get-seconds, split over --get-procs aiohttp client processes
    (one Python client process cannot offer 1,000 TLS req/s on a busy 2-core box); bounded:
    requests are sent on a fixed schedule by a fixed pool of keep-alive connections. Latency
    is measured from each request's scheduled send time, so queueing anywhere (client
    included) shows up (no coordinated omission). If "achieved" is below the offered rate the
    load generator, not necessarily the CA, was the limit: compare with CA CPU.

The load generator runs on the same machine (and, on a 2-core box, competes with the CA and
BIND for CPU); "CA CPU" is the CA process's own user+system time over the measured interval,
the most robust figure on a shared machine: CA CPU-seconds per operation bound what one core
can do regardless of the client.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import secrets
import sqlite3
import ssl
import sys
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import josepy as jose
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from star_devenv.ca import LocalCA
from star_devenv.dns import LocalDNS
from star_devenv.postgres import LocalPostgres
from star_operator.acme import AcmeClient, AutoRenewal
from star_operator.dns01 import Rfc2136Solver

ZONE = "bench.test"
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ----------------------------------------------------------------------------- helpers
def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` (the CA) from /proc, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mb(pid: int) -> float:
    """VmRSS of ``pid`` (the CA) from /proc, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def quarters(memory: list[float]) -> str:
    """Samples at 0, 1/4, 1/2, 3/4 and the end of a series, as ``a / b / c / d / e``."""
    picked = [memory[min(len(memory) - 1, len(memory) * q // 4)] for q in range(5)]
    return " / ".join(f"{m:.0f}" for m in picked)


def pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(len(s) * q))] if s else float("nan")


def csr_der(name: str) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
           .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), False)
           .sign(key, hashes.SHA256()))
    return csr.public_bytes(serialization.Encoding.DER)


def new_name() -> str:
    return f"b{secrets.token_hex(6)}.{ZONE}"


@dataclass(frozen=True)
class Endpoint:
    """A running CA as a client process needs it (picklable): directory and HTTPS anchor."""
    directory_url: str
    root_pem_path: Path


@dataclass
class Env:
    """What a phase drives: the CA (the first replica when several) and, on PostgreSQL, every
    replica and the database URL they share."""
    dns: LocalDNS
    ca: LocalCA | Endpoint
    replicas: list[LocalCA] = field(default_factory=list)
    database_url: str | None = None
    postgres: LocalPostgres | None = None

    def endpoints(self) -> list[LocalCA | Endpoint]:
        return list(self.replicas) or [self.ca]

    def pids(self) -> list[int]:
        return [c.pid or 0 for c in self.endpoints() if isinstance(c, LocalCA)]

    def cpu(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.pids())

    def db_cpu(self) -> float:
        """CPU seconds of the PostgreSQL server's processes so far (0 on SQLite, whose work
        is inside the CA process and its figure)."""
        total = 0.0
        for pid in self.postgres.pids() if self.postgres else []:
            with contextlib.suppress(OSError):
                total += cpu_seconds(pid)
        return total

    def rss(self) -> float:
        return sum(rss_mb(pid) for pid in self.pids())

    async def cert_count(self) -> int:
        if self.database_url is None:
            assert isinstance(self.ca, LocalCA)
            db = sqlite3.connect(f"file:{self.ca.data_dir / 'star-ca.sqlite3'}?mode=ro",
                                 uri=True)
            try:
                return int(db.execute("SELECT COUNT(*) FROM certs").fetchone()[0])
            finally:
                db.close()
        conn = await asyncpg.connect(self.database_url)
        try:
            return int(await conn.fetchval("SELECT COUNT(*) FROM certs"))
        finally:
            await conn.close()

    def solver(self) -> Rfc2136Solver:
        return Rfc2136Solver(self.dns.host, self.dns.port, self.dns.tsig_key_name,
                             self.dns.tsig_secret, self.dns.tsig_algorithm, zone=ZONE,
                             poll_interval=0.05)

    def client(self, session: aiohttp.ClientSession, index: int = 0) -> AcmeClient:
        """Client ``index``'s account, at replica ``index`` mod N."""
        ca = self.endpoints()[index % len(self.endpoints())]
        key = jose.JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
        return AcmeClient(ca.directory_url, key, ca_bundle=str(ca.root_pem_path),
                          session=session, poll_timeout=120)


def start_ca(dns: LocalDNS, **kw: Any) -> LocalCA:
    return LocalCA(dns_server=dns.server, min_lifetime=1, max_duration=86400, **kw).start()


def start_env(dns: LocalDNS, postgres: LocalPostgres | None, replicas: int) -> Env:
    """A fresh CA for one phase: SQLite, or ``replicas`` processes on a new PostgreSQL
    database."""
    if postgres is None:
        return Env(dns, start_ca(dns))
    url = postgres.database()
    cas: list[LocalCA] = []
    try:
        for _ in range(replicas):
            cas.append(start_ca(dns, extra_args=["--database-url", url]))
    except BaseException:
        for ca in cas:
            ca.stop()
        raise
    return Env(dns, cas[0], cas, url, postgres)


async def one_flow(env: Env, client: AcmeClient, solver: Rfc2136Solver,
                   auto_renewal: AutoRenewal | None = None) -> tuple[Any, str | None]:
    """newOrder -> dns-01 -> finalize -> download: the order and its downloaded chain (PEM)."""
    name = new_name()
    order = await client.new_order([name], auto_renewal)
    await client.solve_authorizations(order, solver)
    order = await client.finalize(order, csr_der(name))
    chain = await client.download_certificate(order.certificate) if order.certificate else None
    return order, chain


@dataclass
class FlowStats:
    latencies: list[float] = field(default_factory=list)
    done_at: list[float] = field(default_factory=list)  # time.monotonic() at each completion
    errors: dict[str, int] = field(default_factory=dict)
    orders: list[Any] = field(default_factory=list)
    chain_pem: str | None = None  # the last certificate chain downloaded


async def run_flows(env: Env, clients: int, until: Callable[[FlowStats], bool],
                    auto_renewal: Callable[[], AutoRenewal | None] = lambda: None,
                    keep_orders: bool = False) -> FlowStats:
    """``clients`` concurrent accounts looping over full flows until ``until(stats)``."""
    stats = FlowStats()
    conn = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=conn) as session:
        accounts = [env.client(session, i) for i in range(clients)]
        await asyncio.gather(*(c.register() for c in accounts))  # account reuse from here
        solver = env.solver()

        async def worker(client: AcmeClient) -> None:
            while not until(stats):
                t0 = time.perf_counter()
                try:
                    order, chain = await one_flow(env, client, solver, auto_renewal())
                except Exception as exc:  # noqa: BLE001 - counted and reported
                    key = f"{type(exc).__name__}: {str(exc)[:80]}"
                    stats.errors[key] = stats.errors.get(key, 0) + 1
                    continue
                stats.latencies.append(time.perf_counter() - t0)
                stats.done_at.append(time.monotonic())
                stats.chain_pem = chain or stats.chain_pem
                if keep_orders:
                    stats.orders.append(order)

        await asyncio.gather(*(worker(c) for c in accounts))
    return stats


def banner(title: str) -> None:
    print(f"\n== {title}", flush=True)


# ------------------------------------------------------------------------- (a) flows
async def bench_flows(env: Env, clients: int, seconds: float, warmup: float) -> None:
    banner(f"(a) RFC 8555 issuance flows: {clients} concurrent clients, dns-01 via RFC 2136, "
           f"{warmup:.0f} s warm-up + {seconds:.0f} s measured")
    t_start = time.monotonic()
    marks: dict[str, Any] = {}

    def until(stats: FlowStats) -> bool:
        now = time.monotonic()
        if "t0" not in marks and now - t_start >= warmup:
            marks.update(t0=now, n0=len(stats.latencies), cpu0=env.cpu(), db0=env.db_cpu())
        return now - t_start >= warmup + seconds

    stats = await run_flows(env, clients, until)
    t1, cpu1, db1 = time.monotonic(), env.cpu(), env.db_cpu()
    done = len(stats.latencies) - marks["n0"]
    elapsed = t1 - marks["t0"]
    ca_cpu = cpu1 - marks["cpu0"]
    measured = stats.latencies[marks["n0"]:]
    print(f"  flows completed      {done} in {elapsed:.1f} s  ->  {done / elapsed:7.1f} flows/s")
    print(f"  flow latency         p50 {pct(measured, .5):.3f} s   p99 {pct(measured, .99):.3f} s")
    print(f"  CA CPU               {ca_cpu:.1f} s = {ca_cpu / elapsed * 100:.0f}% of a core;"
          f" {ca_cpu / max(done, 1) * 1e3:.2f} ms CA CPU per flow"
          f" (=> <= {max(done, 1) / max(ca_cpu, 1e-9):.0f} flows/s per CA core)")
    if env.postgres is not None:
        db_cpu = db1 - marks["db0"]
        print(f"  PostgreSQL CPU       {db_cpu:.1f} s; {db_cpu / max(done, 1) * 1e3:.2f} ms per "
              f"flow (CA + database: {(ca_cpu + db_cpu) / max(done, 1) * 1e3:.2f} ms)")
    if stats.errors:
        print(f"  errors               {stats.errors}")


# ------------------------------------------------------------------------- (b) STAR
async def bench_star(env: Env, orders: int, lifetime: int, seconds: float,
                     clients: int) -> None:
    banner(f"(b) STAR renewals: {orders} orders, lifetime {lifetime} s "
           f"(demand {orders / lifetime:.0f} renewals/s), {seconds:.0f} s measured")
    end = datetime.now(timezone.utc) + timedelta(hours=2)
    t0 = time.monotonic()
    stats = await run_flows(
        env, clients, lambda s: len(s.orders) + len(s.errors) >= orders,
        auto_renewal=lambda: AutoRenewal(end_date=end, lifetime=lifetime,
                                         allow_certificate_get=False),
        keep_orders=True)
    print(f"  set-up               {len(stats.orders)} STAR orders in "
          f"{time.monotonic() - t0:.1f} s (errors: {stats.errors or 0})")
    count = env.cert_count
    # Let the first round of renewals (all series start due together) pass, then measure.
    await asyncio.sleep(lifetime * 2)  # measurement pacing, not synchronisation
    n0, c0, cpu0, db0 = await count(), time.monotonic(), env.cpu(), env.db_cpu()
    samples, memory = [], [env.rss()]
    next_mark = c0 + 1.0
    while time.monotonic() < c0 + seconds:
        await asyncio.sleep(max(0.0, next_mark - time.monotonic()))
        samples.append(await count())
        memory.append(env.rss())
        next_mark += 1.0
    n1, c1, cpu1, db1 = await count(), time.monotonic(), env.cpu(), env.db_cpu()
    per_sec = [b - a for a, b in zip([n0, *samples], samples)]
    rate = (n1 - n0) / (c1 - c0)
    ca_cpu = cpu1 - cpu0
    print(f"  renewals             {n1 - n0} in {c1 - c0:.1f} s  ->  {rate:7.1f} renewals/s "
          f"(per-second counts: min {min(per_sec)}, max {max(per_sec)})")
    print(f"  CA CPU               {ca_cpu:.1f} s = {ca_cpu / (c1 - c0) * 100:.0f}% of a core;"
          f" {ca_cpu / max(n1 - n0, 1) * 1e3:.2f} ms CA CPU per renewal"
          f" (=> <= {max(n1 - n0, 1) / max(ca_cpu, 1e-9):.0f} renewals/s per CA core)")
    if env.postgres is not None:
        print(f"  PostgreSQL CPU       {db1 - db0:.1f} s; "
              f"{(db1 - db0) / max(n1 - n0, 1) * 1e3:.2f} ms per renewal")
    print(f"  CA VmRSS             {quarters(memory)} MB at 0, 1/4, 1/2, 3/4 and all of the "
          f"interval")
    verdict = "kept up with demand (lower bound)" if rate >= 0.95 * orders / lifetime \
        else "saturated (below demand): this is its ceiling here"
    print(f"  scheduler            {verdict}")


# --------------------------------------------------------------------------- (c) GET
async def _get_load(url: str, root_pem: str, rate: float, seconds: float, connections: int,
                    start_at: float) -> tuple[list[float], dict[str, int]]:
    """One load-generator process: requests due at start_at + i/rate (wall clock, shared by
    all processes), sent by ``connections`` keep-alive connections; latency from due time."""
    ctx = ssl.create_default_context(cafile=root_pem)
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    conn = aiohttp.TCPConnector(limit=connections, ssl=ctx)
    async with aiohttp.ClientSession(connector=conn) as session:
        async def fetch() -> None:
            async with session.get(url) as r:
                await r.read()
                statuses[str(r.status)] = statuses.get(str(r.status), 0) + 1

        await asyncio.gather(*(fetch() for _ in range(connections)))  # TLS handshakes first
        statuses.clear()
        queue: asyncio.Queue[float | None] = asyncio.Queue()
        offset = time.time() - time.perf_counter()  # due times are wall-clock across processes

        async def worker() -> None:
            while (due := await queue.get()) is not None:
                try:
                    await fetch()
                except Exception as exc:  # noqa: BLE001
                    statuses[type(exc).__name__] = statuses.get(type(exc).__name__, 0) + 1
                latencies.append(time.perf_counter() + offset - due)

        workers = [asyncio.create_task(worker()) for _ in range(connections)]
        for i in range(int(rate * seconds)):
            due = start_at + i / rate
            delay = due - time.time()
            if delay > 0:
                await asyncio.sleep(delay)  # the offered load's schedule
            queue.put_nowait(due)
        for _ in workers:
            queue.put_nowait(None)
        await asyncio.gather(*workers)
    return latencies, statuses


def _get_load_process(*args: Any) -> tuple[list[float], dict[str, int]]:
    return asyncio.run(_get_load(*args))


async def bench_get(env: Env, rate: int, seconds: float, connections: int, procs: int) -> None:
    banner(f"(c) star-certificate unauthenticated GET: {rate} req/s open loop for "
           f"{seconds:.0f} s, {procs} client processes x {connections // procs} keep-alive "
           f"connections")
    end = datetime.now(timezone.utc) + timedelta(hours=2)
    stats = await run_flows(env, 1, lambda s: len(s.orders) + len(s.errors) >= 1,
                            auto_renewal=lambda: AutoRenewal(end_date=end, lifetime=3600),
                            keep_orders=True)
    url = stats.orders[0].star_certificate
    loop = asyncio.get_running_loop()
    start_at = time.time() + 3.0  # leaves the processes time to start and connect
    with ProcessPoolExecutor(procs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [loop.run_in_executor(pool, _get_load_process, url, str(env.ca.root_pem_path),
                                        rate / procs, seconds, connections // procs, start_at)
                   for _ in range(procs)]
        await asyncio.sleep(max(0.0, start_at - time.time()))  # measurement window start
        cpu0 = env.cpu()
        memory: list[float] = []

        async def sample_memory() -> None:
            while True:  # pacing the sampling, not synchronisation
                memory.append(env.rss())
                await asyncio.sleep(1.0)
        sampler = asyncio.create_task(sample_memory())
        results = await asyncio.gather(*futures)
        sampler.cancel()
        elapsed = time.time() - start_at
        ca_cpu = env.cpu() - cpu0
        memory.append(env.rss())
    latencies = [x for lat, _ in results for x in lat]
    statuses: dict[str, int] = {}
    for _, st in results:
        for k, v in st.items():
            statuses[k] = statuses.get(k, 0) + v
    print(f"  requests             {len(latencies)} in {elapsed:.1f} s "
          f"({len(latencies) / elapsed:.0f} req/s achieved); statuses {statuses}")
    print(f"  latency              p50 {pct(latencies, .5) * 1e3:.2f} ms   "
          f"p90 {pct(latencies, .9) * 1e3:.2f} ms   p99 {pct(latencies, .99) * 1e3:.2f} ms   "
          f"max {max(latencies) * 1e3:.2f} ms")
    print(f"  CA CPU               {ca_cpu:.1f} s = {ca_cpu / elapsed * 100:.0f}% of a core;"
          f" {ca_cpu / max(len(latencies), 1) * 1e6:.0f} us CA CPU per GET")
    print(f"  CA VmRSS             {quarters(memory)} MB at 0, 1/4, 1/2, 3/4 and all of the "
          f"interval")


# ----------------------------------------------------------------------------- main
def machine() -> str:
    model = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    load = Path("/proc/loadavg").read_text().split()[:3]
    return f"{os.cpu_count()} CPUs, {model}; load average {' '.join(load)} at start"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", choices=("flows", "star", "get"), action="append")
    p.add_argument("--flows-clients", type=int, default=64)
    p.add_argument("--flows-seconds", type=float, default=20)
    p.add_argument("--flows-warmup", type=float, default=5)
    p.add_argument("--star-orders", type=int, default=2000)
    p.add_argument("--star-lifetime", type=int, default=2)
    p.add_argument("--star-seconds", type=float, default=15)
    p.add_argument("--star-clients", type=int, default=64)
    p.add_argument("--get-rate", type=int, default=1000)
    p.add_argument("--get-seconds", type=float, default=10)
    p.add_argument("--get-connections", type=int, default=32)
    p.add_argument("--get-procs", type=int, default=2)
    p.add_argument("--peer", choices=("pebble",), default=None,
                   help="flows only: run Pebble next to star-ca, same client and BIND, "
                        "alternating rounds (bench/flows_vs_pebble.py)")
    p.add_argument("--peer-concurrency", default="1,8", help="with --peer: concurrent clients")
    p.add_argument("--peer-rounds", type=int, default=3, help="with --peer: rounds per CA")
    p.add_argument("--client-procs", type=int, default=4, help="with --peer: client processes")
    p.add_argument("--py-spy", default=None, metavar="FILE",
                   help="with --peer: py-spy (installed by hand) on star-ca's first round at "
                        "the highest concurrency, collapsed stacks into FILE")
    p.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite",
                   help="star-ca's store: its embedded SQLite, or a local PostgreSQL server")
    p.add_argument("--replicas", default="1",
                   help="with --database postgres: star-ca processes on the one database, "
                        "a comma-separated list run in turn (e.g. 1,2)")
    args = p.parse_args()
    phases = args.only or ["flows", "star", "get"]
    replica_counts = [int(n) for n in args.replicas.split(",")]
    if args.database == "sqlite" and replica_counts != [1]:
        p.error("--replicas needs --database postgres (SQLite has one writer)")
    if args.peer:
        if phases != ["flows"]:
            p.error("--peer compares issuance flows only: use it with --only flows")
        from flows_vs_pebble import run as run_peer
        return run_peer(args)
    print(f"machine: {machine()}; Python {sys.version.split()[0]}; store {args.database}")
    with contextlib.ExitStack() as stack:
        dns = stack.enter_context(LocalDNS(ZONE))
        postgres = (stack.enter_context(LocalPostgres()) if args.database == "postgres"
                    else None)
        for phase, replicas in ((ph, n) for ph in phases for n in replica_counts):
            env = start_env(dns, postgres, replicas)
            if postgres is not None:
                banner(f"star-ca x {replicas} on one PostgreSQL database")
            try:
                run: Awaitable[None]
                if phase == "flows":
                    run = bench_flows(env, args.flows_clients, args.flows_seconds,
                                      args.flows_warmup)
                elif phase == "star":
                    run = bench_star(env, args.star_orders, args.star_lifetime,
                                     args.star_seconds, args.star_clients)
                else:
                    run = bench_get(env, args.get_rate, args.get_seconds, args.get_connections,
                                    args.get_procs)
                asyncio.run(run)
            finally:
                for ca in env.endpoints():
                    if isinstance(ca, LocalCA):
                        ca.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

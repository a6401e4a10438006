"""star-ca next to Pebble: the same dns-01 issuance flows, client and BIND 9, alternating rounds.

Run: .venv/bin/python bench/bench_ca.py --only flows --peer pebble
         [--peer-concurrency 1,8] [--peer-rounds 3] [--flows-seconds 20] [--flows-warmup 5]
         [--client-procs 4] [--py-spy FILE]

Both CAs run at the same time on loopback, behind real HTTPS, validating dns-01 against the same
BIND 9 (star_devenv.LocalDNS): star-ca (star_devenv.LocalCA, CAA checked against BIND as in
production) and Debian's Pebble (star_devenv.LocalPebble with PEBBLE_VA_NOSLEEP=1, nonce
rejection off (PEBBLE_WFE_NONCEREJECT=0), authorization reuse off (PEBBLE_AUTHZREUSE=0); Pebble
does no CAA check at all). Only one of them is loaded at a time: for each concurrency the rounds
alternate star-ca, Pebble, star-ca, Pebble, ... so that drift of a shared machine hits both.

The client is bench_ca's (run_flows / one_flow: the project's AcmeClient with its Rfc2136Solver,
one account per concurrent client, newOrder -> dns-01 -> finalize -> download), spread over
--client-procs persistent processes so that one Python event loop is not the bottleneck; the
client CPU (all client processes, and the busiest one as % of a core) is printed beside the CA's
for the check. A round: the clients register and warm up for --flows-warmup s, then flows that
complete inside the next --flows-seconds are counted; CA CPU is the user+system time of the CA
process (all its threads) from /proc/<pid>/stat over exactly that interval.

The signing limit is what `cryptography` alone signs per second on one core with the issuing
key type and hash each CA actually used (read from an issued chain), in the same run: the
ceiling no amount of protocol work can beat.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from bench_ca import Endpoint, Env, cpu_seconds, machine, new_name, pct, run_flows, start_ca
from star_devenv.dns import LocalDNS
from star_devenv.pebble import LocalPebble

PEBBLE_ENV = {"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0", "PEBBLE_AUTHZREUSE": "0"}
DRAIN_TIMEOUT = 150.0  # after a round's end: in-flight flows finish (AcmeClient poll_timeout 120)


# ----------------------------------------------------------------------- client processes
async def _client_round(dns: LocalDNS, endpoint: Endpoint, clients: int, t1: float
                        ) -> dict[str, Any]:
    stats = await run_flows(Env(dns, endpoint), clients, lambda _: time.monotonic() >= t1)
    return {"done_at": stats.done_at, "latencies": stats.latencies, "errors": stats.errors,
            "chain_pem": stats.chain_pem}


def _client_process(conn: Connection, dns_state: dict[str, Any]) -> None:
    """One client process: runs the rounds it is sent, one event loop per round."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent ends it (None, then join)
    dns = LocalDNS.from_state(dns_state)
    while (job := conn.recv()) is not None:
        try:
            conn.send(asyncio.run(_client_round(dns, *job)))
        except Exception as exc:  # noqa: BLE001 - reported by the parent
            conn.send({"failed": f"{type(exc).__name__}: {exc}"})


class ClientPool:
    """``procs`` persistent spawned client processes, each talking over its own pipe."""

    def __init__(self, procs: int, dns: LocalDNS) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conns: list[Connection] = []
        self.procs: list[Any] = []
        for _ in range(procs):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_client_process, args=(child, dns.to_state()), daemon=True)
            proc.start()
            child.close()
            self.conns.append(parent)
            self.procs.append(proc)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def start(self, endpoint: Endpoint, clients: int, t1: float) -> list[Connection]:
        """Hand ``clients`` out over the processes; the pipes of those that got some."""
        n = len(self.conns)
        shares = [clients // n + (i < clients % n) for i in range(n)]
        busy = []
        for conn, share in zip(self.conns, shares):
            if share:
                conn.send((endpoint, share, t1))
                busy.append(conn)
        return busy

    def close(self) -> None:
        for conn in self.conns:
            conn.send(None)
        for proc in self.procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
                proc.join(10)


def collect(conns: list[Connection], deadline: float) -> list[dict[str, Any]]:
    """Each busy process's round result, waiting on the pipes until ``deadline``."""
    results: dict[int, dict[str, Any]] = {}
    while len(results) < len(conns):
        ready = wait([c for c in conns if id(c) not in results],
                     max(0.0, deadline - time.monotonic()))
        if not ready:
            raise TimeoutError(f"{len(conns) - len(results)} client processes did not report "
                               "by the deadline")
        for conn in ready:
            results[id(conn)] = conn.recv()  # type: ignore[union-attr]
    failed = [r["failed"] for r in results.values() if "failed" in r]
    if failed:
        raise RuntimeError(f"client process failed: {failed[0]}")
    return list(results.values())


# ----------------------------------------------------------------------------- rounds
@dataclass
class Target:
    name: str
    endpoint: Endpoint
    pid: int


@dataclass
class Round:
    ca: str
    clients: int
    seconds: float
    flows: int
    latencies: list[float]
    ca_cpu: float
    client_cpu: float
    busiest_client: float  # the busiest client process's CPU share of one core
    dns_cpu: float
    errors: Counter[str] = field(default_factory=Counter)


def run_round(pool: ClientPool, target: Target, dns_pid: int, clients: int, warmup: float,
              seconds: float) -> tuple[Round, str | None]:
    t0 = time.monotonic() + warmup
    t1 = t0 + seconds
    busy = pool.start(target.endpoint, clients, t1)
    pids = pool.pids

    def sample() -> tuple[float, list[float], float]:
        return cpu_seconds(target.pid), [cpu_seconds(p) for p in pids], cpu_seconds(dns_pid)

    def until(edge: float) -> None:
        """The window's edges are clock times; a report before t1 is a client that failed.
        A report that arrives as the wait for the edge times out (clients stop at t1 too; a
        loaded machine wakes this process late) is not early."""
        if wait(busy, max(0.0, edge - time.monotonic())) and time.monotonic() < edge:
            collect(busy, time.monotonic() + DRAIN_TIMEOUT)  # raises with the reason
            raise RuntimeError("a client process ended its round early")

    until(t0)
    ca0, cl0, dns0 = sample()
    until(t1)
    ca1, cl1, dns1 = sample()
    elapsed = t1 - t0
    results = collect(busy, t1 + DRAIN_TIMEOUT)
    latencies = [lat for r in results for lat, done in zip(r["latencies"], r["done_at"])
                 if t0 <= done <= t1]
    errors: Counter[str] = Counter()
    for r in results:
        errors.update(r["errors"])
    client = [b - a for a, b in zip(cl0, cl1)]
    chain = next((r["chain_pem"] for r in results if r["chain_pem"]), None)
    return Round(target.name, clients, elapsed, len(latencies), latencies, ca1 - ca0,
                 sum(client), max(client) / elapsed, dns1 - dns0, errors), chain


# ----------------------------------------------------------------------------- signing
def key_label(cert: x509.Certificate) -> str:
    key = cert.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"ECDSA {key.curve.name}"
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA {key.key_size}"
    return type(key).__name__


def signing_limit(chain_pem: str, seconds: float = 2.0) -> tuple[str, float]:
    """Leaf certificates per CPU-second `cryptography` signs with a fresh key of the issuing
    key type of ``chain_pem`` (leaf first, issuer second) and the leaf's signature hash: a
    P-256 subject key, CN + SAN, the extensions star-ca puts in every leaf."""
    leaf, issuer = x509.load_pem_x509_certificates(chain_pem.encode())[:2]
    pub = issuer.public_key()
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    if isinstance(pub, ec.EllipticCurvePublicKey):
        key = ec.generate_private_key(pub.curve)
    elif isinstance(pub, rsa.RSAPublicKey):
        key = rsa.generate_private_key(65537, pub.key_size)
    else:
        raise ValueError(f"unsupported issuing key {key_label(issuer)}")
    algorithm = leaf.signature_hash_algorithm or hashes.SHA256()
    subject_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key())
    eku = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH])
    now = dt.datetime.now(dt.timezone.utc)
    n, c0 = 0, time.process_time()
    while (spent := time.process_time() - c0) < seconds:
        name = new_name()
        (x509.CertificateBuilder()
         .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
         .issuer_name(issuer.subject).public_key(subject_key)
         .serial_number(x509.random_serial_number())
         .not_valid_before(now).not_valid_after(now + dt.timedelta(days=7))
         .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
         .add_extension(x509.KeyUsage(True, False, isinstance(pub, rsa.RSAPublicKey), False,
                                      False, False, False, False, False), True)
         .add_extension(eku, False)
         .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), False)
         .add_extension(aki, False)
         .sign(key, algorithm))
        n += 1
    return f"{key_label(issuer)} / {algorithm.name.upper()}", n / spent


# ----------------------------------------------------------------------------- report
def aggregate(rounds: list[Round]) -> dict[str, Any]:
    flows = sum(r.flows for r in rounds)
    seconds = sum(r.seconds for r in rounds)
    lat = [x for r in rounds for x in r.latencies]
    per = max(flows, 1)
    errors: Counter[str] = Counter()
    for r in rounds:
        errors.update(r.errors)
    return {"rate": flows / seconds, "rates": [r.flows / r.seconds for r in rounds],
            "p50": pct(lat, .5), "p99": pct(lat, .99), "flows": flows,
            "ca_ms": sum(r.ca_cpu for r in rounds) / per * 1e3,
            "ca_core": sum(r.ca_cpu for r in rounds) / seconds,
            "client_ms": sum(r.client_cpu for r in rounds) / per * 1e3,
            "busiest": max(r.busiest_client for r in rounds),
            "dns_ms": sum(r.dns_cpu for r in rounds) / per * 1e3,
            "errors": dict(errors)}


def print_table(rounds: list[Round], names: list[str], concurrency: list[int]) -> None:
    print("\n== summary (measured rounds pooled per CA and concurrency)")
    print(f"  {'clients':>7} {'CA':<8} {'flows/s':>8} {'per round':<20} {'p50 s':>6} "
          f"{'p99 s':>6} {'CA ms/flow':>10} {'CA %core':>8} {'client ms/flow':>14} "
          f"{'busiest client':>14} {'BIND ms/flow':>12}  errors")
    for n in concurrency:
        agg = {}
        for name in names:
            a = agg[name] = aggregate([r for r in rounds if r.ca == name and r.clients == n])
            per_round = " ".join(f"{x:.1f}" for x in a["rates"])
            print(f"  {n:>7} {name:<8} {a['rate']:>8.2f} {per_round:<20} {a['p50']:>6.3f} "
                  f"{a['p99']:>6.3f} {a['ca_ms']:>10.2f} {a['ca_core'] * 100:>7.0f}% "
                  f"{a['client_ms']:>14.2f} {a['busiest'] * 100:>13.0f}% "
                  f"{a['dns_ms']:>12.2f}  {a['errors'] or '-'}")
        s, p = agg[names[0]], agg[names[1]]
        print(f"  {n:>7} ratio star-ca/Pebble: flows/s {s['rate'] / p['rate']:.2f}x   "
              f"p50 {s['p50'] / p['p50']:.2f}x   "
              f"CA CPU per flow {s['ca_ms'] / p['ca_ms']:.2f}x  "
              f"(targets: CPU <= 0.67x, flows/s >= 1.5x at 8 clients)")


def top_self_frames(raw: Path, n: int = 10) -> list[tuple[str, int, float]]:
    """From py-spy's collapsed stacks: the ``n`` frames with most self samples."""
    counts: Counter[str] = Counter()
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, num = line.rpartition(" ")
        if stack and num.isdigit():
            counts[stack.split(";")[-1]] += int(num)
    total = sum(counts.values()) or 1
    return [(frame, k, k / total) for frame, k in counts.most_common(n)]


def start_py_spy(pid: int, out: str) -> subprocess.Popen[bytes]:
    """py-spy (installed by hand, not a project dependency) recording ``pid`` into ``out``."""
    spy = Path(sys.executable).with_name("py-spy")
    return subprocess.Popen([str(spy), "record", "--pid", str(pid), "--nonblocking",
                             "--format", "raw", "--rate", "100", "-o", out],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def stop_py_spy(spy: subprocess.Popen[bytes], out: str) -> None:
    spy.send_signal(signal.SIGINT)
    _, err = spy.communicate(timeout=60)
    if not Path(out).exists():
        print(f"  py-spy wrote nothing: {err.decode(errors='replace')[-300:]}")
        return
    print(f"\n== py-spy on star-ca (one round at the highest concurrency): top frames by "
          f"self time, {out}")
    for frame, k, share in top_self_frames(Path(out)):
        print(f"  {share * 100:5.1f}%  {k:6d}  {frame}")


# ----------------------------------------------------------------------------- main
def run(args: argparse.Namespace) -> int:
    concurrency = [int(x) for x in args.peer_concurrency.split(",")]
    print(f"machine: {machine()}; Python {sys.version.split()[0]}")
    print(f"== star-ca vs Pebble: RFC 8555 issuance flows, dns-01 via RFC 2136 to one BIND 9, "
          f"real HTTPS; {args.peer_rounds} alternating rounds per CA x "
          f"{args.flows_warmup:.0f} s warm-up + {args.flows_seconds:.0f} s measured, at "
          f"{', '.join(map(str, concurrency))} concurrent clients over up to "
          f"{args.client_procs} client processes")
    print("  star-ca checks CAA against BIND (on); Pebble does no CAA check. Pebble: "
          + " ".join(f"{k}={v}" for k, v in PEBBLE_ENV.items()))
    print("  a flow's latency includes the client's poll wait (about 1 s) whenever a challenge "
          "or the order is not done at the first look (the CA's Retry-After, else the "
          "client's 1 s default)", flush=True)
    rounds: list[Round] = []
    chains: dict[str, str] = {}
    with LocalDNS("bench.test") as dns:
        ca = start_ca(dns)
        pebble = LocalPebble(dns_server=dns.server, env=PEBBLE_ENV)
        pool = None
        try:
            pebble.start()
            assert pebble._proc is not None
            targets = [
                Target("star-ca", Endpoint(ca.directory_url, ca.root_pem_path), ca.pid or 0),
                Target("pebble", Endpoint(pebble.directory_url, pebble.workdir / "tls-cert.pem"),
                       pebble._proc.pid)]
            print(f"  pids: star-ca {targets[0].pid}, pebble {targets[1].pid}, BIND {dns.pid}",
                  flush=True)
            pool = ClientPool(args.client_procs, dns)
            for n in concurrency:
                for i in range(args.peer_rounds):
                    for target in targets:
                        spy = None
                        if (args.py_spy and target.name == "star-ca" and n == concurrency[-1]
                                and i == 0):
                            spy = start_py_spy(target.pid, args.py_spy)
                        r, chain = run_round(pool, target, dns.pid or 0, n, args.flows_warmup,
                                             args.flows_seconds)
                        if spy is not None:
                            stop_py_spy(spy, args.py_spy)
                        rounds.append(r)
                        if chain:
                            chains.setdefault(target.name, chain)
                        print(f"  round {i + 1} {n:>3} clients {target.name:<8} "
                              f"{r.flows / r.seconds:6.2f} flows/s  p50 {pct(r.latencies, .5):.3f}"
                              f" s  CA {r.ca_cpu / max(r.flows, 1) * 1e3:6.2f} ms/flow  client "
                              f"{r.client_cpu / max(r.flows, 1) * 1e3:6.2f} ms/flow"
                              f"{'  errors ' + str(dict(r.errors)) if r.errors else ''}",
                              flush=True)
        finally:
            if pool is not None:
                pool.close()
            pebble.stop()
            ca.stop()
    print_table(rounds, [t.name for t in targets], concurrency)
    print("\n== signing limit: leaf certificates `cryptography` alone signs per CPU-second, "
          "one core, this run")
    for name, chain in chains.items():
        label, rate = signing_limit(chain)
        ms = [aggregate([r for r in rounds if r.ca == name and r.clients == n])["ca_ms"]
              for n in concurrency]
        print(f"  {name:<8} issuer {label:<24} {rate:8.0f} certs/s ({1e3 / rate:.3f} ms each; "
              f"CA CPU per flow is {' / '.join(f'{m / (1e3 / rate):.0f}x' for m in ms)} that)")
    print("loadavg(after): " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    return 0

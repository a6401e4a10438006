"""How the operator copes with many StarOrders: time to Ready, renewal lag, memory.

Run: .venv/bin/python bench/bench_operator.py [--orders 1000] [--lifetime 60] [options]

Everything is real and on loopback, as in the integration tests: a LocalControlPlane
(etcd + kube-apiserver + kube-controller-manager), BIND 9 (LocalDNS) with TSIG, the STAR CA
(LocalCA, a `star-ca serve` subprocess over HTTPS) and the `star-operator` console script as its
own process with the production defaults (no test timing overrides, warning-level logs).

Phases:
1. setup: CRDs, the DNO's Secrets and one CsrTemplate (helpers from the integration tests),
   wait for the template to be Ready (the ACME account is registered once, per template).
2. ready: N StarOrders (lifetime --lifetime, duration long enough to outlast the run) are
   created through the API by --apply-concurrency concurrent POSTs, as a `kubectl apply` of a
   big manifest would. A watch on StarOrders records when each one first shows Ready=True.
   A watch on Secrets records when each gets its first certificate. Reported: per-order
   apply->Ready and apply->first certificate p50/p99/max, and first apply -> all Ready, with
   the operator's mean ACME step durations (its own metrics endpoint) and the API requests per
   order (the API server's apiserver_request_total; the bench's own POSTs and watches included).
3. renewals: for --renew-seconds (default 2.5 lifetimes, so every order renews twice) a watch on
   Secrets records the moment each new serial lands in a Secret. The CA publishes certificate i
   exactly at its notBefore (star_ca.star.window), so renewal lag = time seen in the Secret -
   notBefore of the certificate. The first certificate of each order is issuance, not renewal,
   and is not counted.
4. memory: the operator's peak RSS (VmHWM from /proc); CPU time per component per phase.

All waits are on watched conditions with deadlines; nothing here sleeps to synchronise. Load
generation (this script), the CA, BIND, etcd and the apiserver share the machine with the
operator, so on a small box the figures include their competition for CPU: compare "operator
CPU" across runs for the operator's own cost.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import platform
import signal
import statistics
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from cryptography import x509

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from star_devenv.ca import LocalCA  # noqa: E402
from star_devenv.controlplane import LocalControlPlane  # noqa: E402
from star_devenv.dns import LocalDNS  # noqa: E402
from star_devenv.kubectl import Kubectl  # noqa: E402
from star_devenv.processes import free_port, spawn, stop_pid  # noqa: E402
from star_operator import constants as c  # noqa: E402
from star_devenv.dno import OPERATOR_NS, StarEnv, apply_crds  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
BENCH_NS = "bench"


# ----------------------------------------------------------------------------- helpers
def pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(len(s) * q))] if s else float("nan")


def summary(samples: list[float], unit: str = "s", digits: int = 2) -> str:
    if not samples:
        return "n=0"
    stats = [("min", min(samples)), ("p50", pct(samples, 0.5)), ("p90", pct(samples, 0.9)),
             ("p99", pct(samples, 0.99)), ("max", max(samples)),
             ("mean", statistics.fmean(samples))]
    return f"n={len(samples)} " + " ".join(f"{k}={v:.{digits}f}{unit}" for k, v in stats)


def proc_status(pid: int) -> dict[str, str]:
    out = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            out[key] = value.strip()
    return out


def mem_mb(pid: int, key: str) -> float:
    value = proc_status(pid).get(key, "0 kB").split()[0]
    return int(value) / 1024


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def cpu_all(pids: dict[str, int]) -> dict[str, float]:
    out = {}
    for name, pid in pids.items():
        with contextlib.suppress(OSError):
            out[name] = cpu_seconds(pid)
    return out


def cpu_report(before: dict[str, float], after: dict[str, float], seconds: float) -> str:
    """CPU per component over a phase, in % of one core."""
    return ", ".join(f"{name} {100 * (after[name] - before[name]) / seconds:.0f}%"
                     for name in after if name in before)


def requests_report(before: dict[tuple[str, str], float], after: dict[tuple[str, str], float],
                    per: int) -> str:
    """API requests during a phase per order (the bench's own POSTs and watches included)."""
    diff = {k: after[k] - before.get(k, 0) for k in after}
    top = sorted(((v, k) for k, v in diff.items() if v >= per / 10), reverse=True)
    total = sum(diff.values())
    return (f"{total / per:.1f} per order: " +
            ", ".join(f"{verb} {res} {v / per:.1f}" for v, (verb, res) in top[:12]))


def prom_samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    """(labels, value) of every sample of metric ``name`` (``name{...} value`` lines) in a
    Prometheus text exposition; labels values must not contain ','."""
    out = []
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        head, _, value = line.rpartition(" ")
        labels = {}
        if "{" in head:
            for part in head[head.index("{") + 1:head.rindex("}")].split(","):
                if "=" in part:
                    key, _, val = part.partition("=")
                    labels[key.strip()] = val.strip().strip('"')
        out.append((labels, float(value)))
    return out


def machine() -> str:
    model = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"nproc={os.cpu_count()} cpu={model!r} python={platform.python_version()} "
            f"loadavg(before)={load}")


def is_ready(obj: dict[str, Any]) -> bool:
    for cond in (obj.get("status") or {}).get("conditions") or ():
        if cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


# ----------------------------------------------------------------------------- API access
class Api:
    """Just enough of the Kubernetes API: create, list+watch (admin token, loopback)."""

    def __init__(self, plane: LocalControlPlane) -> None:
        self.base = plane.api_url
        ctx = ssl.create_default_context(cafile=str(plane.ca_cert))
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=ctx, limit=64),
            headers={"Authorization": f"Bearer {plane.admin_token}"})

    async def close(self) -> None:
        await self.session.close()

    async def create(self, path: str, body: dict[str, Any]) -> None:
        async with self.session.post(self.base + path, json=body) as resp:
            if resp.status >= 300:
                raise RuntimeError(f"POST {path}: {resp.status} {await resp.text()}")

    async def request_counts(self) -> dict[tuple[str, str], float]:
        """The API server's own apiserver_request_total, by (verb, resource[/subresource])."""
        async with self.session.get(self.base + "/metrics") as resp:
            text = await resp.text()
        out: dict[tuple[str, str], float] = {}
        for labels, value in prom_samples(text, "apiserver_request_total"):
            res = labels.get("resource", "") + (f"/{labels['subresource']}"
                                                if labels.get("subresource") else "")
            key = (labels.get("verb", ""), res)
            out[key] = out.get(key, 0) + value
        return out

    async def patch(self, path: str, body: dict[str, Any]) -> None:
        """A JSON merge patch (what ``kubectl annotate`` sends)."""
        headers = {"Content-Type": "application/merge-patch+json"}
        async with self.session.patch(self.base + path, data=json.dumps(body),
                                      headers=headers) as resp:
            if resp.status >= 300:
                raise RuntimeError(f"PATCH {path}: {resp.status} {await resp.text()}")

    async def watch(self, path: str) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """List then watch ``path`` forever: ("ADDED"|"MODIFIED"|..., object)."""
        async with self.session.get(self.base + path) as resp:
            listing = await resp.json()
        for obj in listing.get("items") or ():
            yield "ADDED", obj
        rv = listing["metadata"]["resourceVersion"]
        while True:
            params = {"watch": "1", "resourceVersion": rv, "allowWatchBookmarks": "true",
                      "timeoutSeconds": "600"}
            timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
            async with self.session.get(self.base + path, params=params,
                                        timeout=timeout) as resp:
                async for line in resp.content:
                    if not line.strip():
                        continue
                    event = json.loads(line)
                    obj = event["object"]
                    if event["type"] == "ERROR":
                        raise RuntimeError(f"watch {path}: {obj}")
                    rv = obj["metadata"]["resourceVersion"]
                    if event["type"] != "BOOKMARK":
                        yield event["type"], obj


# ----------------------------------------------------------------------------- observers
@dataclass
class Observations:
    applied: dict[str, float] = field(default_factory=dict)  # order -> POST done (epoch s)
    ready: dict[str, float] = field(default_factory=dict)    # order -> first Ready=True
    serials: dict[str, list[str]] = field(default_factory=dict)  # secret -> serials in order
    first_cert: dict[str, float] = field(default_factory=dict)  # order -> 1st cert in Secret
    lags: list[float] = field(default_factory=list)          # renewal lags (s)
    lag_window: tuple[float, float] | None = None             # only renewals seen in here count
    seen_at: dict[tuple[str, str], float] = field(default_factory=dict)  # (secret, serial)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def notify(self) -> None:
        self.changed.set()

    async def until(self, predicate: Callable[[], bool], deadline: float, what: str) -> bool:
        """Wait (on observed changes) until ``predicate()`` or the monotonic ``deadline``."""
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                print(f"  !! deadline passed waiting for {what}", flush=True)
                return False
            self.changed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(remaining, 5.0))
        return True


async def watch_orders(api: Api, obs: Observations,
                       on_object: Callable[[dict[str, Any]], None] | None = None) -> None:
    """Record first Ready=True per StarOrder; ``on_object`` sees every listed/changed one."""
    path = f"/apis/{c.GROUP}/{c.VERSION}/namespaces/{BENCH_NS}/{c.STARORDER_PLURAL}"
    async for _, obj in api.watch(path):
        name = obj["metadata"]["name"]
        if on_object is not None:
            on_object(obj)
        if name not in obs.ready and is_ready(obj):
            obs.ready[name] = time.time()
        obs.notify()


async def watch_secrets(api: Api, obs: Observations) -> None:
    async for kind, obj in api.watch(f"/api/v1/namespaces/{BENCH_NS}/secrets"):
        seen = time.time()
        if kind == "DELETED":
            continue
        name = obj["metadata"]["name"]
        serial = ((obj["metadata"].get("annotations") or {}).get(c.SERIAL_ANNOTATION))
        crt = (obj.get("data") or {}).get(c.TLS_CRT)
        if not serial or not crt:
            continue
        history = obs.serials.setdefault(name, [])
        if serial in history:
            continue
        history.append(serial)
        obs.seen_at[(name, serial)] = seen
        if len(history) == 1:
            obs.first_cert[name.removesuffix("-tls")] = seen
        if len(history) > 1 and obs.lag_window and \
                obs.lag_window[0] <= seen <= obs.lag_window[1]:
            leaf = x509.load_pem_x509_certificate(base64.b64decode(crt))
            obs.lags.append(seen - leaf.not_valid_before_utc.timestamp())
        obs.notify()


# ----------------------------------------------------------------------------- operator
class Operator:
    """``star-operator`` as the Deployment runs it (defaults; warnings only in the log)."""

    def __init__(self, plane: LocalControlPlane, log_path: Path, extra_env: dict[str, str]):
        env = {**os.environ, **plane.env(), "KUBECONFIG": str(plane.kubeconfig),
               "STAR_OPERATOR_NAMESPACE": OPERATOR_NS, **extra_env}
        script = Path(sys.executable).with_name("star-operator")
        self.log_path = log_path
        self.metrics_port = free_port()
        self.proc = spawn([str(script), "--all-namespaces", "--metrics-port",
                           str(self.metrics_port)], log_path, env=env)
        self.pid = self.proc.pid

    async def scrape(self) -> str:
        """The operator's own /metrics (Prometheus text)."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        async with aiohttp.ClientSession() as session, session.get(url) as resp:
            return await resp.text()

    async def acme_steps(self) -> dict[str, tuple[float, float]]:
        """action -> (count, total seconds) of the operator's ACME step histogram."""
        text = await self.scrape()
        name = "star_operator_acme_request_duration_seconds"
        sums = {lb["action"]: v for lb, v in prom_samples(text, name + "_sum")}
        return {lb["action"]: (v, sums.get(lb["action"], 0.0))
                for lb, v in prom_samples(text, name + "_count")}

    async def acme_timings(self) -> str:
        """Mean duration per ACME action from the operator's own Prometheus histogram."""
        steps = await self.acme_steps()
        return ", ".join(f"{a} {total / n:.2f}s x{n:.0f}"
                         for a, (n, total) in sorted(steps.items()) if n)

    def profile(self, out: str | None) -> Any:
        """py-spy (if installed by hand; not a project dependency) on the operator, or None."""
        if not out:
            return None
        spy = Path(sys.executable).with_name("py-spy")
        return subprocess.Popen([str(spy), "record", "--pid", str(self.pid), "--nonblocking",
                                 "--format", "raw", "--rate", "50", "-o", out],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    @staticmethod
    def end_profile(spy: Any) -> None:
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(60)

    def stop(self) -> None:
        stop_pid(self.pid, grace=20)
        with contextlib.suppress(Exception):
            self.proc.wait(5)


# ----------------------------------------------------------------------------- the run
def order_manifest(env: StarEnv, i: int, lifetime: int, duration: int) -> dict[str, Any]:
    name = f"o{i:05d}"
    return env.star_order(name, BENCH_NS, [f"{name}.{env.dns.zone}"],
                          lifetime=f"{lifetime}s", duration=f"{duration}s")


async def apply_orders(api: Api, env: StarEnv, obs: Observations, args: argparse.Namespace,
                       duration: int) -> None:
    path = f"/apis/{c.GROUP}/{c.VERSION}/namespaces/{BENCH_NS}/{c.STARORDER_PLURAL}"
    sem = asyncio.Semaphore(args.apply_concurrency)

    async def one(i: int) -> None:
        async with sem:
            body = order_manifest(env, i, args.lifetime, duration)
            await api.create(path, body)
            obs.applied[body["metadata"]["name"]] = time.time()

    await asyncio.gather(*(one(i) for i in range(args.orders)))


async def ready_phase(api: Api, env: StarEnv, obs: Observations, op: Operator,
                      args: argparse.Namespace, pids: dict[str, int], duration: int) -> float:
    """Apply ``args.orders`` StarOrders, wait until all are Ready with a certificate in their
    Secret, print the figures; returns the time of the first apply (epoch s)."""
    cpu0, t_start, all0 = cpu_seconds(op.pid), time.time(), cpu_all(pids)
    req0 = await api.request_counts()
    print(f"[ready] applying {args.orders} StarOrders (lifetime {args.lifetime}s, "
          f"{args.apply_concurrency} concurrent POSTs)", flush=True)
    spy = op.profile(args.py_spy and f"{args.py_spy}-ready.txt")
    await apply_orders(api, env, obs, args, duration)
    t_applied = time.time()
    print(f"  applied in {t_applied - t_start:.1f}s", flush=True)
    deadline = time.monotonic() + args.ready_timeout
    await obs.until(lambda: len(obs.ready) >= args.orders, deadline, "all StarOrders Ready")
    await obs.until(lambda: len(obs.first_cert) >= args.orders, deadline,
                    "a first certificate in every Secret")
    op.end_profile(spy)
    t_ready = max(obs.ready.values()) if obs.ready else float("nan")
    cpu_ready = cpu_seconds(op.pid) - cpu0
    per_order = [obs.ready[n] - obs.applied[n] for n in obs.ready if n in obs.applied]
    hwm_ready = mem_mb(op.pid, "VmHWM")
    print(f"  Ready: {len(obs.ready)}/{args.orders}")
    print(f"  apply -> Ready per order: {summary(per_order)}")
    to_cert = [obs.first_cert[n] - obs.applied[n] for n in obs.first_cert if n in obs.applied]
    print(f"  apply -> first certificate in its Secret: {summary(to_cert)}; all by "
          f"{max(obs.first_cert.values(), default=float('nan')) - t_start:.1f}s")
    print(f"  first apply -> all Ready: {t_ready - t_start:.1f}s "
          f"(last apply -> all Ready {t_ready - t_applied:.1f}s)")
    print(f"  operator CPU during phase: {cpu_ready:.1f}s; VmHWM {hwm_ready:.0f} MB, "
          f"VmRSS {mem_mb(op.pid, 'VmRSS'):.0f} MB")
    print(f"  CPU by component (% of one core): "
          f"{cpu_report(all0, cpu_all(pids), time.time() - t_start)}")
    print(f"  operator's ACME timings (mean): {await op.acme_timings()}")
    print(f"  API requests: {requests_report(req0, await api.request_counts(), args.orders)}",
          flush=True)
    return t_start


def component_pids(plane: LocalControlPlane, env: StarEnv, op: Operator) -> dict[str, int]:
    """The processes whose CPU is reported: operator, CA, BIND, control plane."""
    assert plane.state is not None and env.ca.pid is not None and env.dns.pid is not None
    return {"operator": op.pid, "ca": env.ca.pid, "named": env.dns.pid, **plane.state.pids}


async def measure(plane: LocalControlPlane, env: StarEnv, op: Operator,
                  args: argparse.Namespace) -> None:
    pids = component_pids(plane, env, op)
    api = Api(plane)
    obs = Observations()
    watchers = [asyncio.create_task(watch_orders(api, obs)),
                asyncio.create_task(watch_secrets(api, obs))]
    duration = int(args.ready_timeout + args.renew_seconds + 4 * args.lifetime)
    try:
        await ready_phase(api, env, obs, op, args, pids, duration)

        # Renewals: count those seen from now on (the lag of late first certificates would
        # measure issuance, and they are excluded anyway by 'len(history) > 1').
        t0 = time.time()
        obs.lag_window = (t0, t0 + args.renew_seconds)
        cpu1, all1 = cpu_seconds(op.pid), cpu_all(pids)
        req1 = await api.request_counts()
        print(f"[renewals] watching Secrets for {args.renew_seconds:.0f}s", flush=True)
        spy = op.profile(args.py_spy and f"{args.py_spy}-renew.txt")
        end = time.monotonic() + args.renew_seconds
        rss_samples = []
        while time.monotonic() < end:
            # pacing the read-out only: the measured events are recorded by the watch
            await asyncio.sleep(min(5.0, max(0.0, end - time.monotonic())))
            rss_samples.append(mem_mb(op.pid, "VmRSS"))
        cpu_renew = cpu_seconds(op.pid) - cpu1
        op.end_profile(spy)
        renewals = len(obs.lags)
        expected = args.orders * args.renew_seconds / args.lifetime
        print(f"  renewals seen: {renewals} (about {expected:.0f} expected: "
              f"N x window / lifetime)")
        print(f"  renewal lag (notBefore -> in Secret): {summary(obs.lags)}")
        over = sum(1 for x in obs.lags if x > 2.0)
        print(f"  lags over 2 s: {over}")
        print(f"  operator CPU during phase: {cpu_renew:.1f}s "
              f"({100 * cpu_renew / args.renew_seconds:.0f}% of one core)")
        print(f"  CPU by component (% of one core): "
              f"{cpu_report(all1, cpu_all(pids), args.renew_seconds)}")
        report = requests_report(req1, await api.request_counts(), max(1, renewals))
        print(f"  API requests: {report}".replace("per order", "per renewal"))
        print(f"[memory] operator VmHWM {mem_mb(op.pid, 'VmHWM'):.0f} MB, VmRSS now "
              f"{mem_mb(op.pid, 'VmRSS'):.0f} MB (max sampled "
              f"{max(rss_samples, default=0):.0f} MB)", flush=True)
    finally:
        for task in watchers:
            task.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
        await api.close()


@contextlib.contextmanager
def bench_cluster(make_ca: Callable[[LocalDNS], Any], extra_env: dict[str, str],
                  keep_logs: str | None, **env_options: Any
                  ) -> Iterator[tuple[LocalControlPlane, StarEnv, Operator]]:
    """Control plane, BIND, the CA ``make_ca(dns)`` (a context manager), CRDs, the DNO's
    Secrets and CsrTemplate (``env_options``: StarEnv's ``profile``, or a callable of the
    started CA returning its options), the operator, and the template Ready."""
    t = time.monotonic()
    with LocalControlPlane() as plane, LocalDNS("bench.test") as dns, make_ca(dns) as ca:
        kubectl = Kubectl(plane.kubeconfig)
        apply_crds(kubectl, ROOT / "crds")
        options = {k: v(ca) if callable(v) else v for k, v in env_options.items()}
        env = StarEnv(kubectl, dns, ca, suffix=uuid.uuid4().hex[:6], **options)
        env.install()
        kubectl.run("create", "namespace", BENCH_NS)
        log_path = plane.directory / "operator.log"
        op = Operator(plane, log_path, extra_env)
        try:
            kubectl.run("wait", "--for=condition=Ready", f"csrtemplate/{env.template}",
                        "--timeout=120s", timeout=150)
            print(f"setup: {time.monotonic() - t:.1f}s (control plane, BIND, CA, operator, "
                  f"CsrTemplate Ready)", flush=True)
            yield plane, env, op
        finally:
            op.stop()
            if keep_logs:
                Path(keep_logs).write_bytes(log_path.read_bytes())
            errors = sum(1 for line in log_path.read_text(errors="replace").splitlines()
                         if '"levelname": "ERROR"' in line or "Traceback" in line)
            print(f"operator log: {errors} error lines ({log_path.stat().st_size // 1024} kB)")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--orders", type=int, default=1000)
    p.add_argument("--lifetime", type=int, default=60, help="certificate lifetime (s)")
    p.add_argument("--renew-seconds", type=float, default=None,
                   help="renewal observation window (default 2.5 lifetimes)")
    p.add_argument("--ready-timeout", type=float, default=300.0)
    p.add_argument("--apply-concurrency", type=int, default=16)
    p.add_argument("--keep-logs", default=None, help="copy the operator log here")
    p.add_argument("--py-spy", default=None, metavar="PREFIX",
                   help="profile the operator with py-spy (installed by hand) into "
                        "PREFIX-ready.txt / PREFIX-renew.txt (collapsed stacks)")
    p.add_argument("--env", action="append", default=[], metavar="STAR_OPERATOR_X=V",
                   help="extra operator environment (repeatable)")
    args = p.parse_args()
    if args.renew_seconds is None:
        args.renew_seconds = 2.5 * args.lifetime
    print(f"machine: {machine()}")
    print(f"run: orders={args.orders} lifetime={args.lifetime}s "
          f"renew-window={args.renew_seconds:.0f}s", flush=True)
    extra_env = dict(kv.split("=", 1) for kv in args.env)

    with bench_cluster(lambda dns: LocalCA(dns_server=dns.server, min_lifetime=1,
                                           max_duration=86400),
                       extra_env, args.keep_logs) as (plane, env, op):
        asyncio.run(measure(plane, env, op, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The emulated STAR series (CAs without RFC 8739): time to Ready, renewal moments, renewal cost.

Run (each a few minutes):
  .venv/bin/python bench/bench_emulated.py --ca star-ca [--orders 20] [--validity 10]
  .venv/bin/python bench/bench_emulated.py --ca star-ca --no-ari      # Fraction basis
  .venv/bin/python bench/bench_emulated.py --ca pebble [--orders 20]  # Debian's Pebble

The same real components as bench_operator.py (LocalControlPlane, BIND 9 with TSIG, the
`star-operator` console script as its own process with production defaults), against a CA
that has no `meta.auto-renewal`, so every StarOrder runs an emulated series: one ordinary order
per certificate, written into the Secret by the operator, progress in status.series.
- `--ca star-ca`: star-ca with `--no-star`, one ACME profile `short` of --validity seconds
  (the CsrTemplate's spec.acme.profile), ARI on unless --no-ari. It is started through
  bench/counting_ca.py, i.e. unchanged plus a request counter, so CA requests are the CA's own
  count, by endpoint.
- `--ca pebble`: Debian's Pebble (5-year certificates, no profiles, no ARI, 5 % of good nonces
  rejected as badNonce, left on). CA requests are counted from Pebble's own request log.

Phases:
1. ready (bench_operator.ready_phase): N StarOrders applied at once; apply -> Ready=True and
   apply -> first certificate in the Secret per order, all-Ready time, API requests per order;
   here also CA requests per first certificate.
2. renewals (star-ca; skipped with --renewals 0): wait, on watches, until every order has
   installed --renewals more certificates (deadline). Per renewal: API server requests by
   verb/resource (apiserver_request_total), CA requests by endpoint, the operator's ACME steps
   (star_operator_acme_request_duration_seconds_count by action), operator CPU, the operator's
   renewal lag histogram (planned renewAt -> installed), and from the watches renewAt ->
   new serial seen in the Secret.
   Renewal moments: a watch on StarOrders keeps, per certificate, the last status.series seen
   while it was current (renewAt, renewBasis, window). For each renewal: where the successor's
   notBefore fell in the predecessor's life, as a fraction of its lifetime; where renewAt was
   planned; whether both lay inside the ARI window; whether the Secret got the successor
   before the predecessor expired.
3. forced (pebble by default; --forced on star-ca): the renew annotation
   renew.star.operator.dev/requested-at set on all N StarOrders at once (merge PATCHes, as
   `kubectl annotate` sends); annotate -> new serial in the Secret per order, and the same costs
   per renewal as phase 2.

All waits are on watched conditions with deadlines. Everything shares the machine with the
operator: compare "operator CPU" for the operator's own cost.
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import json
import math
import os
import re
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_operator import (BENCH_NS, Api, Observations, Operator, bench_cluster,  # noqa: E402
                            component_pids, cpu_all, cpu_report, cpu_seconds, machine,
                            prom_samples, ready_phase, requests_report, summary,
                            watch_orders, watch_secrets)
from star_devenv.ca import LocalCA  # noqa: E402
from star_devenv.pebble import LocalPebble  # noqa: E402
from star_operator import constants as c  # noqa: E402
from star_operator import timeutil  # noqa: E402

COUNTING_CA = Path(__file__).resolve().with_name("counting_ca.py")
Counts = collections.Counter  # (method, endpoint kind) -> requests


# ----------------------------------------------------------------------------- the CAs
class CountingCA(LocalCA):
    """LocalCA started through counting_ca.py (star-ca unchanged + a request counter)."""

    def argv(self) -> list[str]:
        base = super().argv()
        assert base[1:3] == ["-m", "star_ca"], base
        return [base[0], str(COUNTING_CA), *base[3:]]

    def request_counts(self) -> Counts:
        url = self.base_url + "/bench/request-counts"
        with urllib.request.urlopen(url, context=self.ssl_context(), timeout=10) as resp:
            return Counts({(m, k): n for m, k, n in json.load(resp)})


class CountedPebble(LocalPebble):
    """LocalPebble whose requests are counted from its own log ("GET /dir -> calling
    handler()"), by the first path segment (the endpoint: order-plz, my-order, chalZ, ...)."""

    LINE = re.compile(r" ([A-Z]+) /([^/ ]*)\S* -> calling handler\(\)")

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def request_counts(self) -> Counts:
        return Counts((m.group(1), m.group(2)) for m in
                      self.LINE.finditer(self.log_path.read_text(errors="replace")))


def ca_report(before: Counts, after: Counts, per: int) -> str:
    diff = after - before
    total = sum(diff.values())
    return (f"{total / per:.1f} per certificate: " +
            ", ".join(f"{m} {k} {n / per:.2f}" for (m, k), n in diff.most_common(12)))


# ----------------------------------------------------------------------------- observations
@dataclass
class Series:
    """Per StarOrder: its serials in order, and the last status.series seen for each."""

    serials: dict[str, list[str]] = field(default_factory=dict)
    plans: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)

    def see(self, obj: dict[str, Any]) -> None:
        series = (obj.get("status") or {}).get("series") or {}
        serial = series.get("serial")
        if not serial:
            return
        name = obj["metadata"]["name"]
        history = self.serials.setdefault(name, [])
        if serial not in history:
            history.append(serial)
        self.plans.setdefault(name, {})[serial] = dict(series)

    def installed(self, name: str) -> int:
        return len(self.serials.get(name, ()))


@dataclass
class Renewal:
    """One successor certificate, measured against its predecessor's recorded plan."""

    order: str
    basis: str
    lifetime: float
    at_fraction: float          # successor's notBefore, in the predecessor's life (0..1)
    planned_fraction: float     # predecessor's renewAt, likewise
    in_window_planned: bool | None
    in_window_nb: bool | None
    order_time: float           # renewAt -> successor's notBefore (ordering + validation)
    to_secret: float | None     # renewAt -> successor's serial seen in the Secret
    gap: float | None           # > 0: the Secret served an expired certificate this long


def renewals_of(series: Series, obs: Observations) -> list[Renewal]:
    t = timeutil.parse_time
    out = []
    for name, serials in series.serials.items():
        plans = series.plans[name]
        for prev, nxt in zip(serials, serials[1:]):
            p, n = plans[prev], plans[nxt]
            nb, na, renew_at = t(p["notBefore"]), t(p["notAfter"]), t(p.get("renewAt"))
            if nb is None or na is None or renew_at is None:
                continue
            life = (na - nb).total_seconds()
            nb2 = t(n["notBefore"]).timestamp()
            window = p.get("window")
            ws, we = ((t(window["start"]).timestamp(), t(window["end"]).timestamp())
                      if window else (None, None))
            seen = obs.seen_at.get((f"{name}-tls", nxt))
            out.append(Renewal(
                order=name, basis=p.get("renewBasis", "?"), lifetime=life,
                at_fraction=(nb2 - nb.timestamp()) / life,
                planned_fraction=(renew_at - nb).total_seconds() / life,
                in_window_planned=None if ws is None else ws <= renew_at.timestamp() <= we,
                in_window_nb=None if ws is None else ws <= nb2 <= we,
                order_time=nb2 - renew_at.timestamp(),
                to_secret=None if seen is None else seen - renew_at.timestamp(),
                gap=None if seen is None else seen - na.timestamp()))
    return out


def histogram(values: list[float], lo: float, hi: float, step: float, width: int = 50) -> str:
    # fractions of whole seconds (0.6 of 10 s) must not fall a bin low by rounding
    bins = collections.Counter(math.floor((v - lo) / step + 1e-9) for v in values)
    top = max(bins.values(), default=1)
    lines = []
    below, above = sum(1 for v in values if v < lo), sum(1 for v in values if v >= hi)
    if below:
        lines.append(f"      < {lo:.3f}        {below:4d}")
    for i in range(int(round((hi - lo) / step))):
        n = bins.get(i, 0)
        lines.append(f"    [{lo + i * step:.3f}, {lo + (i + 1) * step:.3f}) {n:4d} "
                     + "#" * max(n and 1, round(width * n / top)))
    if above:
        lines.append(f"     >= {hi:.3f}        {above:4d}")
    return "\n".join(lines)


def report_moments(renewals: list[Renewal]) -> None:
    by_basis: dict[str, list[Renewal]] = collections.defaultdict(list)
    for r in renewals:
        by_basis[r.basis].append(r)
    for basis, rs in sorted(by_basis.items()):
        lifetimes = sorted({round(r.lifetime) for r in rs})
        print(f"  basis {basis}: {len(rs)} renewals of {len({r.order for r in rs})} orders, "
              f"predecessor lifetime(s) {lifetimes} s")
        at, planned = [r.at_fraction for r in rs], [r.planned_fraction for r in rs]
        print(f"    planned renewAt as fraction of life: {summary(planned, '', 3)}")
        print(f"    successor notBefore as fraction of life: {summary(at, '', 3)}")
        print("    distribution of the successor's notBefore (fraction of predecessor's life):")
        print(histogram(at, 0.55, 0.90, 0.025))
        if rs[0].in_window_planned is not None:
            wins = [r for r in rs if r.in_window_planned is not None]
            print(f"    renewAt inside the ARI window: {sum(r.in_window_planned for r in wins)}"
                  f"/{len(wins)}; successor notBefore inside it: "
                  f"{sum(bool(r.in_window_nb) for r in wins)}/{len(wins)}")
        print(f"    renewAt -> successor's notBefore (order, dns-01, finalize): "
              f"{summary([r.order_time for r in rs])}")
        secret = [r.to_secret for r in rs if r.to_secret is not None]
        print(f"    renewAt -> successor in the Secret: {summary(secret)}")
        gaps = [r.gap for r in rs if r.gap is not None and r.gap > 0]
        print(f"    Secret held an expired certificate: {len(gaps)} renewals"
              + (f" ({summary(gaps)})" if gaps else ""), flush=True)


# ----------------------------------------------------------------------------- costs
@dataclass
class Snapshot:
    """Counters at one moment, to difference over a phase."""

    t: float
    api: dict[tuple[str, str], float]
    ca: Counts
    cpu_op: float
    cpu: dict[str, float]
    steps: dict[str, tuple[float, float]]
    metrics: str

    @classmethod
    async def take(cls, api: Api, ca: Any, op: Operator, pids: dict[str, int]) -> Snapshot:
        return cls(t=time.time(), api=await api.request_counts(),
                   ca=await asyncio.to_thread(ca.request_counts), cpu_op=cpu_seconds(op.pid),
                   cpu=cpu_all(pids), steps=await op.acme_steps(), metrics=await op.scrape())


def metric_total(text: str, name: str) -> float:
    return sum(v for _, v in prom_samples(text, name))


def lag_histogram(before: str, after: str) -> str:
    """The operator's star_operator_series_renewal_lag_seconds over the phase."""
    name = "star_operator_series_renewal_lag_seconds"
    n = metric_total(after, name + "_count") - metric_total(before, name + "_count")
    total = metric_total(after, name + "_sum") - metric_total(before, name + "_sum")
    if not n:
        return "no observations"
    b0 = {lb["le"]: v for lb, v in prom_samples(before, name + "_bucket")}
    cum = [(float(lb["le"]), v - b0.get(lb["le"], 0.0))
           for lb, v in prom_samples(after, name + "_bucket")]
    buckets = ", ".join(f"<={le:g}s {v / n:.0%}" for le, v in cum if le <= 60)
    return f"n={n:.0f} mean={total / n:.2f}s; cumulative {buckets}"


async def cost_report(before: Snapshot, after: Snapshot, renewals: int) -> None:
    per = max(1, renewals)
    seconds = after.t - before.t
    op_cpu = after.cpu_op - before.cpu_op
    print(f"  operator CPU: {op_cpu:.1f}s = {1000 * op_cpu / per:.0f} ms per renewal "
          f"({100 * op_cpu / seconds:.0f}% of one core over {seconds:.0f}s)")
    print(f"  CPU by component (% of one core): {cpu_report(before.cpu, after.cpu, seconds)}")
    api = requests_report(before.api, after.api, per).replace("per order", "per renewal")
    print(f"  API requests: {api}")
    ca = ca_report(before.ca, after.ca, per).replace("per certificate", "per renewal")
    print(f"  CA requests: {ca}")
    steps = []
    for action, (n, total) in sorted(after.steps.items()):
        n0, total0 = before.steps.get(action, (0.0, 0.0))
        if n - n0:
            steps.append(f"{action} {(n - n0) / per:.2f} (mean {(total - total0) / (n - n0):.2f}s)")
    print(f"  operator ACME steps per renewal: {', '.join(steps)}")
    print(f"  operator renewal lag (renewAt -> installed): "
          f"{lag_histogram(before.metrics, after.metrics)}", flush=True)


# ----------------------------------------------------------------------------- the run
async def renewal_phase(api: Api, env: Any, op: Operator, pids: dict[str, int],
                        series: Series, obs: Observations, args: argparse.Namespace) -> None:
    start = {name: series.installed(name) for name in obs.applied}
    before = await Snapshot.take(api, env.ca, op, pids)
    counter = "star_operator_series_renewals_total"
    print(f"[renewals] until every order has installed {args.renewals} more certificates",
          flush=True)
    deadline = time.monotonic() + args.renewals * args.validity * 2 + 120
    await obs.until(lambda: all(series.installed(n) >= start[n] + args.renewals for n in start),
                    deadline, f"{args.renewals} renewals of every order")
    after = await Snapshot.take(api, env.ca, op, pids)
    renewals = sum(series.installed(n) - start[n] for n in start)
    counted = metric_total(after.metrics, counter) - metric_total(before.metrics, counter)
    print(f"  renewals: {renewals} seen in status.series ({counted:.0f} by the operator's "
          f"{counter}) in {after.t - before.t:.1f}s")
    await cost_report(before, after, renewals)
    print("[moments] every renewal seen since the first apply")
    report_moments(renewals_of(series, obs))


async def forced_phase(api: Api, env: Any, op: Operator, pids: dict[str, int],
                       series: Series, obs: Observations, args: argparse.Namespace) -> None:
    start = {name: series.installed(name) for name in obs.applied}
    value = uuid.uuid4().hex[:8]
    before = await Snapshot.take(api, env.ca, op, pids)
    print(f"[forced] {c.RENEW_ANNOTATION}={value} on {len(start)} StarOrders", flush=True)
    path = f"/apis/{c.GROUP}/{c.VERSION}/namespaces/{BENCH_NS}/{c.STARORDER_PLURAL}/"
    annotated: dict[str, float] = {}
    sem = asyncio.Semaphore(args.apply_concurrency)

    async def one(name: str) -> None:
        async with sem:
            await api.patch(path + name,
                            {"metadata": {"annotations": {c.RENEW_ANNOTATION: value}}})
            annotated[name] = time.time()

    await asyncio.gather(*(one(n) for n in start))
    deadline = time.monotonic() + args.ready_timeout
    await obs.until(lambda: all(series.installed(n) > start[n] for n in start), deadline,
                    "a forced renewal of every order")
    # the Secret watch may see the new serial a moment after status.series does
    await obs.until(lambda: all(len(obs.serials.get(f"{n}-tls", ())) > start[n] for n in start),
                    deadline, "every forced certificate in its Secret")
    after = await Snapshot.take(api, env.ca, op, pids)
    lags = []
    for name, t0 in annotated.items():
        serial = series.serials[name][start[name]] if series.installed(name) > start[name] \
            else None
        seen = obs.seen_at.get((f"{name}-tls", serial)) if serial else None
        if seen is not None:
            lags.append(seen - t0)
    renewals = sum(series.installed(n) - start[n] for n in start)
    print(f"  renewals: {renewals}; annotate -> new certificate in the Secret: {summary(lags)}; "
          f"all done {after.t - before.t:.1f}s after the first PATCH")
    await cost_report(before, after, renewals)


async def measure(plane: Any, env: Any, op: Operator, args: argparse.Namespace) -> None:
    pids = component_pids(plane, env, op)
    api = Api(plane)
    obs, series = Observations(), Series()
    watchers = [asyncio.create_task(watch_orders(api, obs, series.see)),
                asyncio.create_task(watch_secrets(api, obs))]
    duration = int(args.ready_timeout * 2 + args.renewals * args.validity * 2 + 600)
    try:
        ca0 = await asyncio.to_thread(env.ca.request_counts)
        await ready_phase(api, env, obs, op, args, pids, duration)
        first = sum(min(series.installed(n), 1) for n in obs.applied)
        # certificates installed so far: renewals of early orders may already have started
        installed = sum(series.installed(n) for n in obs.applied)
        ca1 = await asyncio.to_thread(env.ca.request_counts)
        print(f"  CA requests (ready phase; {installed} certificates installed, {first} "
              f"first ones): {ca_report(ca0, ca1, max(1, installed))}", flush=True)
        if args.renewals:
            await renewal_phase(api, env, op, pids, series, obs, args)
        if args.forced:
            await forced_phase(api, env, op, pids, series, obs, args)
    finally:
        for task in watchers:
            task.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
        await api.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ca", choices=("star-ca", "pebble"), default="star-ca")
    p.add_argument("--orders", type=int, default=20)
    p.add_argument("--validity", type=int, default=10,
                   help="star-ca: the profile's certificate validity (s); also the StarOrders' "
                        "lifetime")
    p.add_argument("--no-ari", dest="ari", action="store_false",
                   help="star-ca without renewalInfo: the operator times by lifetime fraction")
    p.add_argument("--renewals", type=int, default=None,
                   help="phase 2: renewals to wait for per order (default 3 on star-ca, 0 on "
                        "Pebble, whose certificates live 5 years)")
    p.add_argument("--forced", action=argparse.BooleanOptionalAction, default=None,
                   help="phase 3: one forced renewal of every order (default on Pebble only)")
    p.add_argument("--ready-timeout", type=float, default=300.0)
    p.add_argument("--apply-concurrency", type=int, default=16)
    p.add_argument("--keep-logs", default=None, help="copy the operator log here")
    p.add_argument("--py-spy", default=None, metavar="PREFIX",
                   help="profile the ready phase with py-spy (installed by hand)")
    p.add_argument("--env", action="append", default=[], metavar="STAR_OPERATOR_X=V",
                   help="extra operator environment (repeatable)")
    args = p.parse_args()
    pebble = args.ca == "pebble"
    if args.renewals is None:
        args.renewals = 0 if pebble else 3
    if args.forced is None:
        args.forced = pebble
    # what the StarOrders ask for: the profile's validity, or an hour from Pebble (which gives
    # 5 years whatever is asked, and says so with a LifetimeMismatch Event)
    args.lifetime = 3600 if pebble else args.validity
    print(f"machine: {machine()}")
    ca = "pebble" if pebble else (f"star-ca (STAR off, profile short={args.validity}s, "
                                  f"ARI {'on' if args.ari else 'off'})")
    print(f"run: ca={ca} orders={args.orders} renewals={args.renewals} forced={args.forced}",
          flush=True)
    extra_env = dict(kv.split("=", 1) for kv in args.env)
    if pebble:
        cluster = bench_cluster(lambda dns: CountedPebble(dns_server=dns.server), extra_env,
                                args.keep_logs, trust_pem=lambda ca: ca.trust_bundle_pem())
    else:
        cluster = bench_cluster(
            lambda dns: CountingCA(dns_server=dns.server, min_lifetime=1, max_duration=86400,
                                   star=False, ari=args.ari,
                                   profiles={"short": args.validity}),
            extra_env, args.keep_logs, profile="short")
    with cluster as (plane, env, op):
        asyncio.run(measure(plane, env, op, args))
    print("loadavg(after): " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

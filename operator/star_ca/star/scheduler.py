"""The STAR renewal scheduler.

Each active series keeps exactly one certificate ahead: certificate i+1 is signed as soon as
certificate i is published (at i's notBefore), which is before i's nominal halfway point
(see star.window). The star-certificate URL serves the newest certificate whose notBefore has
passed, so a pre-issued certificate appears exactly at its notBefore and never earlier.

Crash safety: the series row (next position, next due time) and the new certificate are
committed in one transaction, and ``UNIQUE(order_id, seq)`` rejects a second certificate for a
position. Replicas on one database share the renewals: each batch is claimed for ``LEASE``
seconds or a quarter lifetime (Store.claim_due_series, skipping rows a peer is claiming),
committed only while held, and a replica killed mid-batch leaves its series to the others when
the lease runs out, which is before the certificate it was signing is due for publication.
After downtime the scheduler jumps straight to the certificate that should be current now
(older, superseded windows are skipped, never issued late), and never signs a window past
``end-date`` because star.window caps every notAfter at it.

CAA is re-checked before every renewal (decision documented in docs/star-ca.md): a denial
stops the series and marks the order ``invalid`` with a ``caa`` error; a failing DNS lookup is
retried until the certificate would have been due for publication, then stops the series too.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

from cryptography import x509

from star_ca.ca.issuer import Issuer
from star_ca.config import Config
from star_ca.db import CertRow, Order, Series, Store
from star_ca.lifecycle import new_id
from star_ca.links import order_account_url
from star_ca.problems import combine
from star_ca.star.cache import StarCache
from star_ca.star.autorenewal import parse_rfc3339
from star_ca.star.window import SeriesParams, current_seq, window
from star_ca.va.caa import CaaChecker

log = logging.getLogger(__name__)
BATCH = 500
MAX_SLEEP = 5.0
LEASE = 10.0


def params_of(s: Series) -> SeriesParams:
    return SeriesParams(first_nrd=s.first_nrd, start=s.start, end=s.end, lifetime=s.lifetime,
                        lifetime_adjust=s.lifetime_adjust)


@dataclass
class _Outcome:
    series: Series
    cert: CertRow | None = None
    stop_order: Order | None = None


class Scheduler:
    def __init__(self, config: Config, store: Store, issuer: Issuer, caa: CaaChecker,
                 star_cache: StarCache | None = None, owner: str | None = None) -> None:
        self.config, self.store, self.issuer, self.caa = config, store, issuer, caa
        self.star_cache = star_cache or StarCache()
        self.owner = owner or new_id()  # this replica's name on the leases it takes
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------- lifecycle
    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def wake(self) -> None:
        self._wake.set()

    # ------------------------------------------------------------ first cert
    def first_certificate(self, order: Order, csr: x509.CertificateSigningRequest,
                          csr_der: bytes, methods: dict[str, str],
                          now: float) -> tuple[CertRow, Series] | None:
        """Sign certificate 0 of a new series at finalize; None if the series has no window
        left (end-date passed before finalize)."""
        ar = order.auto_renewal or {}
        end = parse_rfc3339(ar["end-date"], "end-date")
        start_date = parse_rfc3339(ar["start-date"], "start-date") if "start-date" in ar else None
        first = max(int(now), start_date or 0)
        p = SeriesParams(first_nrd=first, start=start_date or first, end=end,
                         lifetime=int(ar["lifetime"]),
                         lifetime_adjust=int(ar.get("lifetime-adjust", 0)))
        w = window(p, 0)
        if w is None:
            return None
        cert = self._sign(order, csr.public_key(), w.seq, w.not_before, w.not_after)
        series = Series(order.id, csr_der, methods, p.first_nrd, p.start, p.end, p.lifetime,
                        p.lifetime_adjust, next_seq=1, next_due=float(w.not_before),
                        stopped=window(p, 1) is None)
        return cert, series

    def _sign(self, order: Order, public_key: object, seq: int, nb: float,
              na: float) -> CertRow:
        issued = self.issuer.issue(public_key, order.identifiers, nb, na)  # type: ignore[arg-type]
        return CertRow(new_id(), issued.serial, order.id, order.account_id, seq,
                       issued.chain_pem, issued.not_before, issued.not_after, None)

    # ------------------------------------------------------------- renewals
    async def _loop(self) -> None:
        while True:
            try:
                now = time.time()
                batch = await self.store.claim_due_series(now, BATCH, self.owner, LEASE)
                if batch:
                    await self.renew(batch, now)
                    continue
                nd = await self.store.next_due(now)
                timeout = MAX_SLEEP if nd is None else max(0.0, min(MAX_SLEEP, nd - now))
                self._wake.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)
            except asyncio.CancelledError:
                raise
            except Exception:  # keep renewing other series whatever one of them does
                log.exception("renewal batch failed; retrying")
                await asyncio.sleep(1.0)

    async def renew(self, batch: list[Series], now: float) -> None:
        """Advance every series in ``batch`` (claimed by this replica) by one certificate, or
        stop it. A cancellation committed during the CAA lookups wins: the store commits
        only for orders still valid, and stops the others' series."""
        orders = await self.store.orders_by_id([s.order_id for s in batch])  # one query
        outcomes = await asyncio.gather(*(self._renew_one(s, orders.get(s.order_id), now)
                                          for s in batch))
        certs = [out.cert for out in outcomes if out.cert is not None]
        stopped = [out.stop_order for out in outcomes if out.stop_order is not None]
        committed = await self.store.save_renewals(
            self.owner, certs, [out.series for out in outcomes], stopped)
        for stopped_order in stopped:  # same loop step as the commit: no stale GET answer
            if stopped_order.id in committed:
                self.star_cache.invalidate(stopped_order.star_token)
        log.info("renewal batch: %d series, %d certificates", len(batch),
                 sum(c.order_id in committed for c in certs))

    async def _renew_one(self, s: Series, order: Order | None, now: float) -> _Outcome:
        p = params_of(s)
        current = current_seq(p, now)
        seq = max(s.next_seq, current if current is not None else 0)
        w = window(p, seq)
        if w is None or order is None or order.status != "valid":
            s.stopped = True
            return _Outcome(s)
        subproblems = await self.caa.subproblems(
            s.methods, account_uri=order_account_url(order.base_url, order.account_id))
        if subproblems:
            only_lookup_failures = all(str(sp["type"]).endswith(":dns") for sp in subproblems)
            if only_lookup_failures and time.time() < w.not_before:
                s.next_due = time.time() + min(5.0, max(0.5, s.lifetime / 10))
                return _Outcome(s)
            err = combine(subproblems, "CAA re-check before renewal refused issuance; "
                                       "the STAR series is stopped")
            order.status, order.error = "invalid", err.to_json()
            s.stopped = True
            return _Outcome(s, stop_order=order)
        csr = x509.load_der_x509_csr(s.csr)
        cert = self._sign(order, csr.public_key(), w.seq, w.not_before, w.not_after)
        s.next_seq, s.next_due = w.seq + 1, float(w.not_before)
        s.stopped = window(p, w.seq + 1) is None
        return _Outcome(s, cert=cert)

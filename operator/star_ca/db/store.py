"""Typed access to the CA's database, the same statements on SQLite and PostgreSQL
(star_ca.db.database).

Each public method is one transaction, so state is never half-written. Where several replicas
share a PostgreSQL database, what only one of them may do is claimed in the statement that
reads it: a series' next renewal (:meth:`Store.claim_due_series`, a lease a killed replica's
peers take over when it runs out) and an order left in ``processing``
(:meth:`Store.claim_processing`); a renewal is committed only by the replica that holds the
lease and only for an order still ``valid`` (:meth:`Store.save_renewals`), so a cancellation
on another replica always wins.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from star_ca.db.database import Database, Row, Transaction
from star_ca.db.rows import (Account, Authz, CertRow, Challenge, Order, Series, dumps,
                             loads)

T = TypeVar("T")


def _marks(values: Sequence[Any]) -> str:
    """The placeholders of an ``IN (...)`` list of ``values``."""
    return ",".join("?" * len(values))


class Store:
    """The CA's database; see the module docstring for what replicas share."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @property
    def shared(self) -> bool:
        """Whether other replicas write this database too (caches must not outlive a read)."""
        return self.db.shared

    async def close(self) -> None:
        await self.db.close()

    async def _first(self, sql: str, args: Iterable[Any], conv: Callable[[Row], T]
                     ) -> T | None:
        row = await self.db.fetchone(sql, tuple(args))
        return None if row is None else conv(row)

    async def _all(self, sql: str, args: Iterable[Any], conv: Callable[[Row], T]) -> list[T]:
        return [conv(r) for r in await self.db.fetchall(sql, tuple(args))]

    # ------------------------------------------------------------------ meta
    async def get_meta(self, key: str) -> bytes | None:
        row = await self.db.fetchone("SELECT value FROM meta WHERE key=?", (key,))
        return None if row is None else bytes(row[0])

    async def add_meta(self, items: dict[str, bytes]) -> None:
        """Store the keys not stored yet: the first replica to write a key wins, so two
        replicas creating the hierarchy together end up sharing one."""
        async with self.db.transaction() as tx:
            await tx.executemany("INSERT INTO meta(key, value) VALUES (?, ?) "
                                 "ON CONFLICT(key) DO NOTHING", items.items())

    # ---------------------------------------------------------------- nonces
    async def use_nonce(self, nonce: str, expires: float) -> bool:
        """Record ``nonce`` as used; False when it already was (a replay). One statement,
        committed on its own: every POST pays for it, so no BEGIN/COMMIT round trips."""
        return bool(await self.db.fetchall(
            "INSERT INTO used_nonces(nonce, expires) VALUES (?, ?) ON CONFLICT DO NOTHING "
            "RETURNING nonce", (nonce, expires)))

    async def prune_used_nonces(self, now: float) -> None:
        """Forget used nonces past their lifetime: they are refused for their age now."""
        async with self.db.transaction() as tx:
            await tx.execute("DELETE FROM used_nonces WHERE expires<?", (now,))

    # -------------------------------------------------------------- accounts
    _ACC = "SELECT id, thumbprint, jwk, status, contact, tos FROM accounts"

    @staticmethod
    def _account(row: Row) -> Account:
        return Account(row[0], row[1], json.loads(row[2]), row[3], json.loads(row[4]),
                       bool(row[5]))

    async def account(self, account_id: str) -> Account | None:
        return await self._first(self._ACC + " WHERE id=?", (account_id,), self._account)

    async def account_by_thumbprint(self, thumbprint: str) -> Account | None:
        return await self._first(self._ACC + " WHERE thumbprint=?", (thumbprint,),
                                 self._account)

    async def create_account(self, acc: Account, now: float) -> Account:
        """Store ``acc`` unless an account with its key exists (made a moment ago by the
        same client on another replica); the account stored for that key either way."""
        async with self.db.transaction() as tx:
            await tx.execute("INSERT INTO accounts(id, thumbprint, jwk, status, contact, tos, "
                             "created) VALUES (?,?,?,?,?,?,?) ON CONFLICT DO NOTHING",
                             (acc.id, acc.thumbprint, dumps(acc.jwk), acc.status,
                              dumps(acc.contact), int(acc.tos), now))
        return await self.account_by_thumbprint(acc.thumbprint) or acc

    async def update_account(self, acc: Account) -> None:
        """Write back contact, status and key (account update, deactivation, keyChange)."""
        async with self.db.transaction() as tx:
            await tx.execute("UPDATE accounts SET thumbprint=?, jwk=?, status=?, contact=? "
                             "WHERE id=?", (acc.thumbprint, dumps(acc.jwk), acc.status,
                                            dumps(acc.contact), acc.id))

    # ---------------------------------------------------------------- orders
    _ORD = ("SELECT id, account_id, status, expires, identifiers, error, cert_id, base_url, "
            "auto_renewal, star_token, profile, replaces, replaces_cert FROM orders")

    @staticmethod
    def _order(row: Row) -> Order:
        return Order(row[0], row[1], row[2], row[3], json.loads(row[4]), loads(row[5]), row[6],
                     row[7], loads(row[8]), *row[9:13])

    async def order(self, order_id: str) -> Order | None:
        return await self._first(self._ORD + " WHERE id=?", (order_id,), self._order)

    async def orders_by_id(self, order_ids: Sequence[str]) -> dict[str, Order]:
        """Several orders in one query (a renewal batch's)."""
        if not order_ids:
            return {}
        found = await self._all(self._ORD + f" WHERE id IN ({_marks(order_ids)})", order_ids,
                                self._order)
        return {o.id: o for o in found}

    async def order_by_star_token(self, token: str) -> Order | None:
        return await self._first(self._ORD + " WHERE star_token=?", (token,), self._order)

    async def orders_of(self, account_id: str) -> list[str]:
        return await self._all("SELECT id FROM orders WHERE account_id=? ORDER BY created",
                               (account_id,), lambda r: str(r[0]))

    async def orders_replacing(self, cert_id: str) -> list[Order]:
        """Orders that named certificate ``cert_id`` in ``replaces``, oldest first."""
        return await self._all(self._ORD + " WHERE replaces_cert=? ORDER BY created",
                               (cert_id,), self._order)

    async def create_order(self, order: Order, authzs: list[Authz],
                           challenges: list[Challenge], now: float) -> None:
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO orders (id, account_id, status, expires, identifiers, error, "
                "cert_id, base_url, auto_renewal, star_token, created, profile, replaces, "
                "replaces_cert) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (order.id, order.account_id, order.status, order.expires,
                 dumps(order.identifiers), dumps(order.error), order.cert_id, order.base_url,
                 dumps(order.auto_renewal), order.star_token, now, order.profile,
                 order.replaces, order.replaces_cert))
            await tx.executemany(
                "INSERT INTO authzs (id, account_id, order_id, identifier, wildcard, status, "
                "expires, method) VALUES (?,?,?,?,?,?,?,?)",
                [(a.id, a.account_id, a.order_id, a.identifier, int(a.wildcard), a.status,
                  a.expires, a.method) for a in authzs])
            await tx.executemany(
                "INSERT INTO challenges (id, authz_id, type, token, status, validated, error) "
                "VALUES (?,?,?,?,?,?,?)",
                [(ch.id, ch.authz_id, ch.type, ch.token, ch.status, ch.validated,
                  dumps(ch.error)) for ch in challenges])

    async def save_order(self, order: Order) -> None:
        async with self.db.transaction() as tx:
            await self._write_order(tx, order)

    @staticmethod
    async def _write_order(tx: Transaction, order: Order) -> None:
        await tx.execute("UPDATE orders SET status=?, expires=?, error=?, cert_id=?, "
                         "auto_renewal=?, star_token=? WHERE id=?",
                         (order.status, order.expires, dumps(order.error), order.cert_id,
                          dumps(order.auto_renewal), order.star_token, order.id))
        if order.status != "processing":  # leaving processing: the kept CSR is done with
            await tx.execute("DELETE FROM finalizing WHERE order_id=?", (order.id,))

    async def begin_processing(self, order: Order, csr_der: bytes, now: float) -> bool:
        """finalize accepted: a ``ready`` order goes ``processing`` and its CSR is kept,
        atomically, so that issuance can be completed after a crash. False when the order was
        no longer ``ready`` (a concurrent finalize, on another replica, took it)."""
        async with self.db.transaction() as tx:
            if not await tx.fetchall("UPDATE orders SET status='processing' WHERE id=? AND "
                                     "status='ready' RETURNING id", (order.id,)):
                return False
            order.status = "processing"
            await tx.execute("INSERT INTO finalizing(order_id, csr, started) VALUES (?,?,?) "
                             "ON CONFLICT(order_id) DO UPDATE SET csr=excluded.csr, "
                             "started=excluded.started", (order.id, csr_der, now))
        return True

    async def claim_processing(self, started_before: float, now: float
                               ) -> list[tuple[Order, bytes | None]]:
        """Orders in ``processing`` whose finalize began before ``started_before`` (a crash
        mid-finalize, here or on another replica), each with its kept CSR. Claimed: their
        ``started`` becomes ``now``, so a peer recovering at the same time skips them. On a
        database of this process alone, also those with no CSR kept (written by a CA version
        that did not keep it: None)."""
        async with self.db.transaction() as tx:
            claimed = await tx.fetchall(
                "UPDATE finalizing SET started=? WHERE order_id IN (SELECT order_id FROM "
                "finalizing WHERE started<?" + self.db.skip_locked + ") RETURNING order_id, csr",
                (now, started_before))
        found: dict[str, bytes | None] = {str(r[0]): bytes(r[1]) for r in claimed}
        if not self.db.shared:
            found.update((str(r[0]), None) for r in await self.db.fetchall(
                "SELECT id FROM orders WHERE status='processing' AND id NOT IN "
                "(SELECT order_id FROM finalizing)"))
        out = []
        for order_id, csr in found.items():
            order = await self.order(order_id)
            if order is not None and order.status == "processing":
                out.append((order, csr))
        return out

    # ------------------------------------------------------- authz/challenges
    _AUTHZ = ("SELECT id, account_id, order_id, identifier, wildcard, status, expires, method "
              "FROM authzs")
    _CHALL = "SELECT id, authz_id, type, token, status, validated, error FROM challenges"

    @staticmethod
    def _authz(row: Row) -> Authz:
        return Authz(row[0], row[1], row[2], row[3], bool(row[4]), row[5], row[6], row[7])

    @staticmethod
    def _chall(row: Row) -> Challenge:
        return Challenge(row[0], row[1], row[2], row[3], row[4], row[5], loads(row[6]))

    async def authz(self, authz_id: str) -> Authz | None:
        return await self._first(self._AUTHZ + " WHERE id=?", (authz_id,), self._authz)

    # One query per object for what its JSON shows (an order with its authorizations, an
    # authorization with its challenges): a request reads each object once.
    _ORDER_AUTHZS = ("SELECT o.id, o.account_id, o.status, o.expires, o.identifiers, o.error, "
                     "o.cert_id, o.base_url, o.auto_renewal, o.star_token, o.profile, "
                     "o.replaces, o.replaces_cert, a.id, a.account_id, a.order_id, "
                     "a.identifier, a.wildcard, a.status, a.expires, a.method FROM orders o "
                     "LEFT JOIN authzs a ON a.order_id=o.id WHERE o.id=? ORDER BY a.rowid")
    _AUTHZ_CHALLS = ("SELECT a.id, a.account_id, a.order_id, a.identifier, a.wildcard, "
                     "a.status, a.expires, a.method, c.id, c.authz_id, c.type, c.token, "
                     "c.status, c.validated, c.error FROM authzs a LEFT JOIN challenges c "
                     "ON c.authz_id=a.id WHERE a.id=? ORDER BY c.rowid")

    async def order_with_authzs(self, order_id: str) -> tuple[Order, list[Authz]] | None:
        rows = await self.db.fetchall(self._ORDER_AUTHZS, (order_id,))
        if not rows:
            return None
        return (self._order(rows[0][:13]),
                [self._authz(r[13:]) for r in rows if r[13] is not None])

    async def authz_with_challenges(self, authz_id: str
                                    ) -> tuple[Authz, list[Challenge]] | None:
        rows = await self.db.fetchall(self._AUTHZ_CHALLS, (authz_id,))
        if not rows:
            return None
        return self._authz(rows[0][:8]), [self._chall(r[8:]) for r in rows if r[8] is not None]

    async def authzs_of(self, order_id: str) -> list[Authz]:
        return await self._all(self._AUTHZ + " WHERE order_id=? ORDER BY rowid", (order_id,),
                               self._authz)

    async def challenge(self, chall_id: str) -> Challenge | None:
        return await self._first(self._CHALL + " WHERE id=?", (chall_id,), self._chall)

    async def challenges_of(self, authz_id: str) -> list[Challenge]:
        return await self._all(self._CHALL + " WHERE authz_id=? ORDER BY rowid", (authz_id,),
                               self._chall)

    async def challenges_in(self, status: str) -> list[Challenge]:
        return await self._all(self._CHALL + " WHERE status=?", (status,), self._chall)

    @staticmethod
    async def _write_authz(tx: Transaction, authz: Authz) -> None:
        await tx.execute("UPDATE authzs SET status=?, method=? WHERE id=?",
                         (authz.status, authz.method, authz.id))

    async def save_validation(self, chall: Challenge, authz: Authz, order: Order | None) -> None:
        """Challenge, authorization and order outcome of one validation, atomically."""
        async with self.db.transaction() as tx:
            await tx.execute("UPDATE challenges SET status=?, validated=?, error=? WHERE id=?",
                             (chall.status, chall.validated, dumps(chall.error), chall.id))
            await self._write_authz(tx, authz)
            if order is not None:
                await self._write_order(tx, order)

    async def save_authz(self, authz: Authz) -> None:
        async with self.db.transaction() as tx:
            await self._write_authz(tx, authz)

    # ----------------------------------------------------------------- certs
    _CERT = ("SELECT id, serial, order_id, account_id, seq, chain_pem, not_before, not_after, "
             "revoked_reason FROM certs")

    @staticmethod
    def _cert(row: Row) -> CertRow:
        return CertRow(*row)

    async def cert(self, cert_id: str) -> CertRow | None:
        return await self._first(self._CERT + " WHERE id=?", (cert_id,), self._cert)

    async def cert_by_serial(self, serial: str) -> CertRow | None:
        return await self._first(self._CERT + " WHERE serial=?", (serial,), self._cert)

    async def published_cert(self, order_id: str, now: float) -> CertRow | None:
        """The newest certificate of a STAR series whose notBefore has passed."""
        return await self._first(
            self._CERT + " WHERE order_id=? AND not_before<=? ORDER BY seq DESC LIMIT 1",
            (order_id, now), self._cert)

    async def set_revoked(self, cert_id: str, reason: int) -> None:
        async with self.db.transaction() as tx:
            await tx.execute("UPDATE certs SET revoked_reason=? WHERE id=?", (reason, cert_id))

    _INSERT_CERT = ("INSERT INTO certs(id, serial, order_id, account_id, seq, chain_pem, "
                    "not_before, not_after, revoked_reason) VALUES (?,?,?,?,?,?,?,?,?) "
                    "ON CONFLICT DO NOTHING")

    @staticmethod
    def _cert_args(cert: CertRow) -> tuple[Any, ...]:
        return (cert.id, cert.serial, cert.order_id, cert.account_id, cert.seq,
                cert.chain_pem, cert.not_before, cert.not_after, cert.revoked_reason)

    async def finish_order(self, order: Order, cert: CertRow, series: Series | None) -> None:
        """Finalize outcome: the first certificate, the order and (STAR) its series at once."""
        async with self.db.transaction() as tx:
            await tx.execute(self._INSERT_CERT, self._cert_args(cert))
            await self._write_order(tx, order)
            if series is not None:
                await tx.execute(
                    "INSERT INTO star_series(order_id, csr, methods, first_nrd, start, end_, "
                    "lifetime, lifetime_adjust, next_seq, next_due, stopped) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (series.order_id, series.csr, dumps(series.methods), series.first_nrd,
                     series.start, series.end, series.lifetime, series.lifetime_adjust,
                     series.next_seq, series.next_due, int(series.stopped)))

    # ---------------------------------------------------------------- series
    _SER_COLS = ("order_id, csr, methods, first_nrd, start, end_, lifetime, lifetime_adjust, "
                 "next_seq, next_due, stopped")

    @staticmethod
    def _series(row: Row) -> Series:
        return Series(row[0], bytes(row[1]), json.loads(row[2]), row[3], row[4], row[5], row[6],
                      row[7], row[8], row[9], bool(row[10]))

    async def series(self, order_id: str) -> Series | None:
        return await self._first(f"SELECT {self._SER_COLS} FROM star_series WHERE order_id=?",
                                 (order_id,), self._series)

    async def claim_due_series(self, now: float, limit: int, owner: str,
                               lease: float) -> list[Series]:
        """Up to ``limit`` series due by ``now`` that no replica holds, leased to ``owner``
        for ``lease`` seconds or a quarter of the series' lifetime if that is shorter (the
        next certificate is needed about half a lifetime after it falls due, so a peer has
        time to sign it after a dead holder's lease); rows a peer is claiming at this moment
        are skipped, not waited for."""
        async with self.db.transaction() as tx:
            rows = await tx.fetchall(
                "UPDATE star_series SET claimed_by=?, claimed_until=? + CASE WHEN "
                "lifetime/4.0 < ? THEN lifetime/4.0 ELSE ? END WHERE order_id IN ("
                "SELECT order_id FROM star_series WHERE stopped=0 AND next_due<=? AND "
                "claimed_until<=? ORDER BY next_due LIMIT ?" + self.db.skip_locked + ") "
                f"RETURNING {self._SER_COLS}", (owner, now, lease, lease, now, now, limit))
        return sorted(map(self._series, rows), key=lambda s: s.next_due)

    async def next_due(self, now: float) -> float | None:
        """When the next series not leased at ``now`` falls due, or the first lease runs out,
        for the scheduler's sleep. Two index range scans (the due index from its start, the
        lease index over the few series leased now), not a pass over every series."""
        due = await self.db.fetchone("SELECT next_due FROM star_series WHERE stopped=0 AND "
                                     "claimed_until<=? ORDER BY next_due LIMIT 1", (now,))
        lease = await self.db.fetchone("SELECT claimed_until FROM star_series WHERE "
                                       "claimed_until>? ORDER BY claimed_until LIMIT 1", (now,))
        found = [float(r[0]) for r in (due, lease) if r is not None and r[0] is not None]
        return min(found) if found else None

    async def save_renewals(self, owner: str, certs: Sequence[CertRow],
                            series: Sequence[Series], stopped_orders: Sequence[Order]
                            ) -> set[str]:
        """One scheduler batch: new certificates, advanced series, stopped orders, committed
        for the series ``owner`` still holds whose order is still ``valid``; a held series
        whose order is no longer valid (cancelled meanwhile, here or on a peer) is stopped.
        The held series rows are locked before the orders are read, so a cancellation in
        flight either sees this commit or is seen by it. Returns the order IDs committed."""
        ids = [s.order_id for s in series]
        if not ids:
            return set()
        marks = _marks(ids)
        async with self.db.transaction() as tx:
            held = {r[0] for r in await tx.fetchall(
                f"SELECT order_id FROM star_series WHERE order_id IN ({marks}) AND claimed_by=?"
                + self.db.for_update, (*ids, owner))}
            valid = {r[0] for r in await tx.fetchall(
                f"SELECT id FROM orders WHERE id IN ({marks}) AND status='valid'", ids)} & held
            await tx.executemany(self._INSERT_CERT,
                                 [self._cert_args(c) for c in certs if c.order_id in valid])
            await tx.executemany(
                "UPDATE star_series SET next_seq=?, next_due=?, stopped=?, claimed_by=NULL, "
                "claimed_until=0 WHERE order_id=?",
                [(s.next_seq, s.next_due, int(s.stopped), s.order_id)
                 for s in series if s.order_id in valid])
            await tx.executemany(
                "UPDATE star_series SET stopped=1, claimed_by=NULL, claimed_until=0 "
                "WHERE order_id=?", [(i,) for i in held - valid])
            for order in stopped_orders:
                if order.id in valid:
                    await self._write_order(tx, order)
        return valid

    async def stop_series(self, order: Order) -> None:
        """Cancellation: order status and series stop in one transaction."""
        async with self.db.transaction() as tx:
            await self._write_order(tx, order)
            await tx.execute("UPDATE star_series SET stopped=1 WHERE order_id=?", (order.id,))

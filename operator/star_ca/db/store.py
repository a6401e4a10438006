"""Typed access to the SQLite database.

One connection, used from the event loop thread only: every statement is a few microseconds,
so handing them to a thread pool would cost more than it saves. WAL with ``synchronous=NORMAL``
survives a ``kill -9`` of the CA at any point (only an OS crash can lose the last commits).
Each public method is one transaction, so state is never half-written.
"""
from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from star_ca.db.schema import SCHEMA, pending_migration

T = TypeVar("T")


@dataclass
class Account:
    id: str
    thumbprint: str
    jwk: dict[str, Any]
    status: str
    contact: list[str]
    tos: bool


@dataclass
class Order:
    id: str
    account_id: str
    status: str
    expires: float
    identifiers: list[str]
    error: dict[str, Any] | None
    cert_id: str | None
    base_url: str
    auto_renewal: dict[str, Any] | None
    star_token: str | None
    profile: str | None = None
    replaces: str | None = None  # the ARI certID the client sent (RFC 9773 §5)
    replaces_cert: str | None = None  # that certificate's CertRow.id


@dataclass
class Authz:
    id: str
    account_id: str
    order_id: str
    identifier: str
    wildcard: bool
    status: str
    expires: float
    method: str | None


@dataclass
class Challenge:
    id: str
    authz_id: str
    type: str
    token: str
    status: str
    validated: float | None
    error: dict[str, Any] | None


@dataclass
class CertRow:
    id: str
    serial: str
    order_id: str
    account_id: str
    seq: int
    chain_pem: str
    not_before: float
    not_after: float
    revoked_reason: int | None


@dataclass
class Series:
    """A STAR order's renewal state: enough to compute every window (star.window)."""

    order_id: str
    csr: bytes
    methods: dict[str, str]
    first_nrd: int
    start: int
    end: int
    lifetime: int
    lifetime_adjust: int
    next_seq: int
    next_due: float
    stopped: bool


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"))


class Store:
    """The CA's database; see module docstring for the concurrency model."""

    def __init__(self, path: Path | str) -> None:
        self.conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA busy_timeout=5000")
        self._migrate()

    def _migrate(self) -> None:
        """Bring the database to the current schema, one migration per transaction."""
        self.conn.executescript(SCHEMA)
        while True:
            with self.tx() as c:
                version = c.execute("PRAGMA user_version").fetchone()[0]
                step = pending_migration(version)
                if step is None:
                    return
                for statement in step:
                    c.execute(statement)
                c.execute(f"PRAGMA user_version={version + 1}")

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One atomic write transaction (nesting is not supported, nor needed)."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def _one(self, sql: str, args: Iterable[Any]) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = self.conn.execute(sql, tuple(args)).fetchone()
        return row

    def _first(self, sql: str, args: Iterable[Any], conv: Callable[[tuple[Any, ...]], T]
               ) -> T | None:
        row = self._one(sql, args)
        return None if row is None else conv(row)

    def _all(self, sql: str, args: Iterable[Any], conv: Callable[[tuple[Any, ...]], T]
             ) -> list[T]:
        return [conv(r) for r in self.conn.execute(sql, tuple(args))]

    # ------------------------------------------------------------------ meta
    def get_meta(self, key: str) -> bytes | None:
        row = self._one("SELECT value FROM meta WHERE key=?", (key,))
        return None if row is None else bytes(row[0])

    def put_meta(self, items: dict[str, bytes]) -> None:
        with self.tx() as c:
            c.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", items.items())

    # -------------------------------------------------------------- accounts
    _ACC = "SELECT id, thumbprint, jwk, status, contact, tos FROM accounts"

    @staticmethod
    def _account(row: tuple[Any, ...] | None) -> Account | None:
        if row is None:
            return None
        return Account(row[0], row[1], json.loads(row[2]), row[3], json.loads(row[4]),
                       bool(row[5]))

    def account(self, account_id: str) -> Account | None:
        return self._account(self._one(self._ACC + " WHERE id=?", (account_id,)))

    def account_by_thumbprint(self, thumbprint: str) -> Account | None:
        return self._account(self._one(self._ACC + " WHERE thumbprint=?", (thumbprint,)))

    def create_account(self, acc: Account, now: float) -> None:
        with self.tx() as c:
            c.execute("INSERT INTO accounts VALUES (?,?,?,?,?,?,?)",
                      (acc.id, acc.thumbprint, _dumps(acc.jwk), acc.status, _dumps(acc.contact),
                       int(acc.tos), now))

    def update_account(self, acc: Account) -> None:
        """Write back contact, status and key (account update, deactivation, keyChange)."""
        with self.tx() as c:
            c.execute("UPDATE accounts SET thumbprint=?, jwk=?, status=?, contact=? WHERE id=?",
                      (acc.thumbprint, _dumps(acc.jwk), acc.status, _dumps(acc.contact), acc.id))

    # ---------------------------------------------------------------- orders
    _ORD = ("SELECT id, account_id, status, expires, identifiers, error, cert_id, base_url, "
            "auto_renewal, star_token, profile, replaces, replaces_cert FROM orders")

    @staticmethod
    def _order_row(row: tuple[Any, ...]) -> Order:
        return Order(row[0], row[1], row[2], row[3], json.loads(row[4]), _loads(row[5]), row[6],
                     row[7], _loads(row[8]), *row[9:13])

    @classmethod
    def _order(cls, row: tuple[Any, ...] | None) -> Order | None:
        return None if row is None else cls._order_row(row)

    def order(self, order_id: str) -> Order | None:
        return self._order(self._one(self._ORD + " WHERE id=?", (order_id,)))

    def order_by_star_token(self, token: str) -> Order | None:
        return self._order(self._one(self._ORD + " WHERE star_token=?", (token,)))

    def orders_of(self, account_id: str) -> list[str]:
        rows = self.conn.execute(
            "SELECT id FROM orders WHERE account_id=? ORDER BY created", (account_id,))
        return [r[0] for r in rows]

    def orders_replacing(self, cert_id: str) -> list[Order]:
        """Orders that named certificate ``cert_id`` in ``replaces``, oldest first."""
        return self._all(self._ORD + " WHERE replaces_cert=? ORDER BY created", (cert_id,),
                         self._order_row)

    def create_order(self, order: Order, authzs: list[Authz],
                     challenges: list[Challenge], now: float) -> None:
        with self.tx() as c:
            c.execute("INSERT INTO orders (id, account_id, status, expires, identifiers, error, "
                      "cert_id, base_url, auto_renewal, star_token, created, profile, "
                      "replaces, replaces_cert) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                      (order.id, order.account_id, order.status, order.expires,
                       _dumps(order.identifiers), _dumps(order.error), order.cert_id,
                       order.base_url, _dumps(order.auto_renewal), order.star_token, now,
                       order.profile, order.replaces, order.replaces_cert))
            c.executemany("INSERT INTO authzs VALUES (?,?,?,?,?,?,?,?)",
                          [(a.id, a.account_id, a.order_id, a.identifier, int(a.wildcard),
                            a.status, a.expires, a.method) for a in authzs])
            c.executemany("INSERT INTO challenges VALUES (?,?,?,?,?,?,?)",
                          [(ch.id, ch.authz_id, ch.type, ch.token, ch.status, ch.validated,
                            _dumps(ch.error)) for ch in challenges])

    def save_order(self, order: Order) -> None:
        with self.tx() as c:
            self._write_order(c, order)

    @staticmethod
    def _write_order(c: sqlite3.Connection, order: Order) -> None:
        c.execute("UPDATE orders SET status=?, expires=?, error=?, cert_id=?, auto_renewal=?, "
                  "star_token=? WHERE id=?",
                  (order.status, order.expires, _dumps(order.error), order.cert_id,
                   _dumps(order.auto_renewal), order.star_token, order.id))
        if order.status != "processing":  # leaving processing: the kept CSR is done with
            c.execute("DELETE FROM finalizing WHERE order_id=?", (order.id,))

    def begin_processing(self, order: Order, csr_der: bytes, now: float) -> None:
        """finalize accepted: the order goes ``processing`` and its CSR is kept, atomically,
        so that issuance can be completed after a crash."""
        order.status = "processing"
        with self.tx() as c:
            c.execute("UPDATE orders SET status=? WHERE id=?", (order.status, order.id))
            c.execute("INSERT OR REPLACE INTO finalizing VALUES (?,?,?)",
                      (order.id, csr_der, now))

    def processing_orders(self) -> list[tuple[Order, bytes | None]]:
        """Orders left in ``processing`` (a crash mid-finalize) with their kept CSR, if any
        (None for orders written by a CA version that did not keep it)."""
        rows = self.conn.execute(
            "SELECT o.id, f.csr FROM orders o LEFT JOIN finalizing f ON f.order_id=o.id "
            "WHERE o.status='processing'").fetchall()
        out = []
        for order_id, csr in rows:
            order = self.order(order_id)
            if order is not None:
                out.append((order, None if csr is None else bytes(csr)))
        return out

    # ------------------------------------------------------- authz/challenges
    _AUTHZ = ("SELECT id, account_id, order_id, identifier, wildcard, status, expires, method "
              "FROM authzs")
    _CHALL = "SELECT id, authz_id, type, token, status, validated, error FROM challenges"

    @staticmethod
    def _authz(row: tuple[Any, ...]) -> Authz:
        return Authz(row[0], row[1], row[2], row[3], bool(row[4]), row[5], row[6], row[7])

    @staticmethod
    def _chall(row: tuple[Any, ...]) -> Challenge:
        return Challenge(row[0], row[1], row[2], row[3], row[4], row[5], _loads(row[6]))

    def authz(self, authz_id: str) -> Authz | None:
        return self._first(self._AUTHZ + " WHERE id=?", (authz_id,), self._authz)

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

    def order_with_authzs(self, order_id: str) -> tuple[Order, list[Authz]] | None:
        rows = self.conn.execute(self._ORDER_AUTHZS, (order_id,)).fetchall()
        if not rows:
            return None
        return (self._order_row(rows[0][:13]),
                [self._authz(r[13:]) for r in rows if r[13] is not None])

    def authz_with_challenges(self, authz_id: str) -> tuple[Authz, list[Challenge]] | None:
        rows = self.conn.execute(self._AUTHZ_CHALLS, (authz_id,)).fetchall()
        if not rows:
            return None
        return self._authz(rows[0][:8]), [self._chall(r[8:]) for r in rows if r[8] is not None]

    def authzs_of(self, order_id: str) -> list[Authz]:
        return self._all(self._AUTHZ + " WHERE order_id=? ORDER BY rowid", (order_id,),
                         self._authz)

    def challenge(self, chall_id: str) -> Challenge | None:
        return self._first(self._CHALL + " WHERE id=?", (chall_id,), self._chall)

    def challenges_of(self, authz_id: str) -> list[Challenge]:
        return self._all(self._CHALL + " WHERE authz_id=? ORDER BY rowid", (authz_id,),
                         self._chall)

    def challenges_in(self, status: str) -> list[Challenge]:
        return self._all(self._CHALL + " WHERE status=?", (status,), self._chall)

    def save_validation(self, chall: Challenge, authz: Authz, order: Order | None) -> None:
        """Challenge, authorization and order outcome of one validation, atomically."""
        with self.tx() as c:
            c.execute("UPDATE challenges SET status=?, validated=?, error=? WHERE id=?",
                      (chall.status, chall.validated, _dumps(chall.error), chall.id))
            c.execute("UPDATE authzs SET status=?, method=? WHERE id=?",
                      (authz.status, authz.method, authz.id))
            if order is not None:
                self._write_order(c, order)

    def save_authz(self, authz: Authz) -> None:
        with self.tx() as c:
            c.execute("UPDATE authzs SET status=?, method=? WHERE id=?",
                      (authz.status, authz.method, authz.id))

    # ----------------------------------------------------------------- certs
    _CERT = ("SELECT id, serial, order_id, account_id, seq, chain_pem, not_before, not_after, "
             "revoked_reason FROM certs")

    @staticmethod
    def _cert(row: tuple[Any, ...] | None) -> CertRow | None:
        return None if row is None else CertRow(*row)

    def cert(self, cert_id: str) -> CertRow | None:
        return self._cert(self._one(self._CERT + " WHERE id=?", (cert_id,)))

    def cert_by_serial(self, serial: str) -> CertRow | None:
        return self._cert(self._one(self._CERT + " WHERE serial=?", (serial,)))

    def published_cert(self, order_id: str, now: float) -> CertRow | None:
        """The newest certificate of a STAR series whose notBefore has passed."""
        return self._cert(self._one(
            self._CERT + " WHERE order_id=? AND not_before<=? ORDER BY seq DESC LIMIT 1",
            (order_id, now)))

    def set_revoked(self, cert_id: str, reason: int) -> None:
        with self.tx() as c:
            c.execute("UPDATE certs SET revoked_reason=? WHERE id=?", (reason, cert_id))

    @staticmethod
    def _insert_cert(c: sqlite3.Connection, cert: CertRow) -> None:
        c.execute("INSERT OR IGNORE INTO certs VALUES (?,?,?,?,?,?,?,?,?)",
                  (cert.id, cert.serial, cert.order_id, cert.account_id, cert.seq,
                   cert.chain_pem, cert.not_before, cert.not_after, cert.revoked_reason))

    def finish_order(self, order: Order, cert: CertRow, series: Series | None) -> None:
        """Finalize outcome: the first certificate, the order and (STAR) its series at once."""
        with self.tx() as c:
            self._insert_cert(c, cert)
            self._write_order(c, order)
            if series is not None:
                c.execute("INSERT INTO star_series VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                          (series.order_id, series.csr, _dumps(series.methods),
                           series.first_nrd, series.start, series.end, series.lifetime,
                           series.lifetime_adjust, series.next_seq, series.next_due,
                           int(series.stopped)))

    # ---------------------------------------------------------------- series
    _SER = ("SELECT order_id, csr, methods, first_nrd, start, end_, lifetime, lifetime_adjust, "
            "next_seq, next_due, stopped FROM star_series")

    @staticmethod
    def _series(row: tuple[Any, ...]) -> Series:
        return Series(row[0], bytes(row[1]), json.loads(row[2]), row[3], row[4], row[5], row[6],
                      row[7], row[8], row[9], bool(row[10]))

    def series(self, order_id: str) -> Series | None:
        return self._first(self._SER + " WHERE order_id=?", (order_id,), self._series)

    def due_series(self, now: float, limit: int) -> list[Series]:
        return self._all(self._SER + " WHERE stopped=0 AND next_due<=? ORDER BY next_due LIMIT ?",
                         (now, limit), self._series)

    def next_due(self) -> float | None:
        row = self._one("SELECT MIN(next_due) FROM star_series WHERE stopped=0", ())
        return None if row is None or row[0] is None else float(row[0])

    def save_renewals(self, certs: list[CertRow], series: list[Series],
                      stopped_orders: list[Order]) -> None:
        """One scheduler batch: new certificates, advanced series, stopped orders."""
        with self.tx() as c:
            for cert in certs:
                self._insert_cert(c, cert)
            c.executemany("UPDATE star_series SET next_seq=?, next_due=?, stopped=? "
                          "WHERE order_id=?",
                          [(s.next_seq, s.next_due, int(s.stopped), s.order_id) for s in series])
            for order in stopped_orders:
                self._write_order(c, order)

    def stop_series(self, order: Order) -> None:
        """Cancellation: order status and series stop in one transaction."""
        with self.tx() as c:
            self._write_order(c, order)
            c.execute("UPDATE star_series SET stopped=1 WHERE order_id=?", (order.id,))

"""The schema, in SQLite's and PostgreSQL's words. ``UNIQUE(order_id, seq)`` on certs is what
makes STAR issuance idempotent: a scheduler that crashed between signing and committing
re-signs on restart, and a second insert of the same series position can never happen.

``finalizing`` holds the CSR of every order in ``processing``, written in the same transaction
that sets that status and deleted in the one that leaves it, so a CA killed mid-finalize can
finish the issuance on restart (star_ca.issuance.recover_processing).

``claimed_by``/``claimed_until`` on a series are a replica's lease on its next renewal (taken with
``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so two replicas never sign the same position and a
replica killed mid-renewal leaves the series to the others once the lease runs out.

``SCHEMA`` is the first version; ``MIGRATIONS`` bring any database, new or written by an older
CA, to the current one: SQLite counts those applied in ``PRAGMA user_version``
(star_ca.db.sqlite), PostgreSQL in a ``schema_version`` table (star_ca.db.postgres), and there
every statement is translated to its types by ``for_postgres``."""

import re

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS accounts (
    id TEXT PRIMARY KEY,
    thumbprint TEXT NOT NULL UNIQUE,
    jwk TEXT NOT NULL,
    status TEXT NOT NULL,
    contact TEXT NOT NULL,
    tos INTEGER NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS orders (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    status TEXT NOT NULL,
    expires REAL NOT NULL,
    identifiers TEXT NOT NULL,
    error TEXT,
    cert_id TEXT,
    base_url TEXT NOT NULL,
    auto_renewal TEXT,
    star_token TEXT UNIQUE,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_account ON orders(account_id);
CREATE TABLE IF NOT EXISTS authzs (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    order_id TEXT NOT NULL,
    identifier TEXT NOT NULL,
    wildcard INTEGER NOT NULL,
    status TEXT NOT NULL,
    expires REAL NOT NULL,
    method TEXT
);
CREATE INDEX IF NOT EXISTS authzs_order ON authzs(order_id);
CREATE TABLE IF NOT EXISTS challenges (
    id TEXT PRIMARY KEY,
    authz_id TEXT NOT NULL,
    type TEXT NOT NULL,
    token TEXT NOT NULL,
    status TEXT NOT NULL,
    validated REAL,
    error TEXT
);
CREATE INDEX IF NOT EXISTS challenges_authz ON challenges(authz_id);
CREATE TABLE IF NOT EXISTS certs (
    id TEXT PRIMARY KEY,
    serial TEXT NOT NULL UNIQUE,
    order_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    chain_pem TEXT NOT NULL,
    not_before REAL NOT NULL,
    not_after REAL NOT NULL,
    revoked_reason INTEGER,
    UNIQUE(order_id, seq)
);
CREATE TABLE IF NOT EXISTS star_series (
    order_id TEXT PRIMARY KEY,
    csr BLOB NOT NULL,
    methods TEXT NOT NULL,
    first_nrd INTEGER NOT NULL,
    start INTEGER NOT NULL,
    end_ INTEGER NOT NULL,
    lifetime INTEGER NOT NULL,
    lifetime_adjust INTEGER NOT NULL,
    next_seq INTEGER NOT NULL,
    next_due REAL NOT NULL,
    stopped INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS finalizing (
    order_id TEXT PRIMARY KEY,
    csr BLOB NOT NULL,
    started REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_status ON orders(status);
CREATE INDEX IF NOT EXISTS star_series_due ON star_series(stopped, next_due);
"""

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: the ACME profile an order got, and the certificate it replaces (RFC 9773 §5);
    # replaces_cert is that certificate's certs.id, what alreadyReplaced is decided on.
    ("ALTER TABLE orders ADD COLUMN profile TEXT",
     "ALTER TABLE orders ADD COLUMN replaces TEXT",
     "ALTER TABLE orders ADD COLUMN replaces_cert TEXT",
     "CREATE INDEX orders_replaces ON orders(replaces_cert)"),
    # 2: a replica's lease on a series' next renewal; nonces used (star_ca.wfe.nonces
    # SharedNonces: PostgreSQL's, kept here too so that every Store method works on both)
    ("ALTER TABLE star_series ADD COLUMN claimed_by TEXT",
     "ALTER TABLE star_series ADD COLUMN claimed_until REAL NOT NULL DEFAULT 0",
     "CREATE INDEX star_series_leases ON star_series(claimed_until)",
     "CREATE TABLE used_nonces (nonce TEXT PRIMARY KEY, expires REAL NOT NULL)",
     "CREATE INDEX used_nonces_expires ON used_nonces(expires)"),
)

# PostgreSQL runs the same history (SCHEMA, then each migration) in its own types: SQLite's
# INTEGER is 64 bits (BIGINT), REAL a double, BLOB bytes.
_POSTGRES_TYPES = (("INTEGER", "BIGINT"), ("REAL", "DOUBLE PRECISION"), ("BLOB", "BYTEA"))
_TYPE_WORD = re.compile(r"\b(" + "|".join(t for t, _ in _POSTGRES_TYPES) + r")\b")

# ``rowid`` is SQLite's implicit insertion order; on PostgreSQL the same name is an identity
# column, so "ORDER BY rowid" (authorizations in identifier order, challenges as offered) is
# one statement for both.
POSTGRES_ONLY = (
    "ALTER TABLE authzs ADD COLUMN rowid BIGINT GENERATED ALWAYS AS IDENTITY",
    "ALTER TABLE challenges ADD COLUMN rowid BIGINT GENERATED ALWAYS AS IDENTITY",
    "CREATE INDEX challenges_status ON challenges(status)",
)


def for_postgres(statement: str) -> str:
    """A schema statement as written for SQLite, in PostgreSQL's column types."""
    return _TYPE_WORD.sub(lambda m: dict(_POSTGRES_TYPES)[m.group(1)], statement)


def pending_migration(version: int) -> tuple[str, ...] | None:
    """The statements that bring a database at ``version`` one step up; None when current."""
    if version > len(MIGRATIONS):
        raise RuntimeError(f"database schema version {version} is newer than this star-ca "
                           f"knows ({len(MIGRATIONS)})")
    return MIGRATIONS[version] if version < len(MIGRATIONS) else None

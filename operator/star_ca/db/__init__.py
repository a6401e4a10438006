"""Durable state in SQLite (WAL): the only thing that survives a restart or a ``kill -9``."""
from star_ca.db.store import Account, Authz, CertRow, Challenge, Order, Series, Store

__all__ = ["Account", "Authz", "CertRow", "Challenge", "Order", "Series", "Store"]

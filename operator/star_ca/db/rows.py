"""The CA's durable objects as the stores read and write them (one dataclass per table)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


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


def loads(text: str | None) -> Any:
    """A JSON column's value (NULL is None)."""
    return None if text is None else json.loads(text)


def dumps(value: Any) -> str | None:
    """A JSON column's text: compact, None stays NULL."""
    return None if value is None else json.dumps(value, separators=(",", ":"))

"""RFC 7807 problem documents with RFC 8555 / RFC 8739 / RFC 9773 / ACME profiles error types.

Shared by the front end (request errors), the validation authority (challenge and CAA errors
stored in authorizations and orders) and the scheduler (a stopped STAR series).
"""
from __future__ import annotations

from typing import Any

PREFIX = "urn:ietf:params:acme:error:"

# Default HTTP status of each type when it is the top-level problem of a response.
STATUS = {
    "accountDoesNotExist": 400, "alreadyRevoked": 400, "badCSR": 400, "badNonce": 400,
    "badPublicKey": 400, "badRevocationReason": 400, "badSignatureAlgorithm": 400,
    "caa": 403, "compound": 403, "connection": 400, "dns": 400, "incorrectResponse": 403,
    "invalidContact": 400, "malformed": 400, "orderNotReady": 403, "rateLimited": 429,
    "rejectedIdentifier": 400, "serverInternal": 500, "tls": 400, "unauthorized": 403,
    "unsupportedContact": 400, "unsupportedIdentifier": 400, "userActionRequired": 403,
    "autoRenewalCanceled": 403, "autoRenewalExpired": 403,
    "autoRenewalCancellationInvalid": 400, "autoRenewalRevocationNotSupported": 403,
    "invalidProfile": 400, "alreadyReplaced": 409,
}


class AcmeError(Exception):
    """An error that becomes a problem document. ``type`` is the short name (``badNonce``)."""

    def __init__(self, type_: str, detail: str, status: int | None = None,
                 subproblems: list[dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        super().__init__(f"{type_}: {detail}")
        self.extra = extra or {}
        self.type = type_
        self.detail = detail
        self.status = status or STATUS.get(type_, 400)
        self.subproblems = subproblems or []
        self.headers = headers or {}

    def to_json(self) -> dict[str, Any]:
        return {**problem(self.type, self.detail, self.status, self.subproblems), **self.extra}


def problem(type_: str, detail: str, status: int | None = None,
            subproblems: list[dict[str, Any]] | None = None,
            identifier: str | None = None) -> dict[str, Any]:
    """A problem document as a dict (also the form stored in orders and challenges)."""
    doc: dict[str, Any] = {"type": PREFIX + type_, "detail": detail,
                           "status": status or STATUS.get(type_, 400)}
    if identifier is not None:
        doc["identifier"] = {"type": "dns", "value": identifier}
    if subproblems:
        doc["subproblems"] = subproblems
    return doc


def combine(subproblems: list[dict[str, Any]], summary: str) -> AcmeError:
    """One error for several per-identifier problems: their common type, else ``compound``."""
    types = {sp["type"] for sp in subproblems}
    short = types.pop()[len(PREFIX):] if len(types) == 1 else "compound"
    return AcmeError(short, summary, subproblems=subproblems)

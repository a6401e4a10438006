"""Exceptions raised by the ACME client.

Callers (the operator's handlers, the CDN-side fetcher) need to tell three situations apart:
the CA answered with an RFC 7807 problem (`AcmeProblem`: act on `short_type`, e.g. stop
fetching after `autoRenewalCanceled`), the CA could not be reached or its TLS certificate did
not verify (`AcmeConnectionError` / `AcmeTlsError`: retry later or fix the CA bundle), or the CA
said something the protocol does not allow (`AcmeProtocolError`). All derive from `AcmeError`.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from acme import messages

ERROR_PREFIX = "urn:ietf:params:acme:error:"
PROBLEM_CONTENT_TYPE = "application/problem+json"


class AcmeError(Exception):
    """Base class of every error raised by `star_operator.acme`."""


class AcmeProtocolError(AcmeError):
    """The server's answer does not follow RFC 8555 / RFC 8739 (missing header, bad JSON...)."""


class AcmeTimeout(AcmeError):
    """An object did not reach the wanted state before the caller's deadline."""


class AcmeConnectionError(AcmeError):
    """The request never got an HTTP answer (DNS, refused, reset, timeout). Names the URL."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot reach ACME server at {url}: {reason}")
        self.url = url
        self.reason = reason


class AcmeTlsError(AcmeConnectionError):
    """The server's TLS certificate did not verify against the configured CA bundle.

    Kept separate so that a wrong `ca_bundle` is reported as such instead of as a generic
    network failure; verification is never turned off as a fallback.
    """


class AcmeProblem(AcmeError):
    """An RFC 7807 problem document returned by the ACME server.

    `type` is the full URN, `short_type` the part after `urn:ietf:params:acme:error:` (or the
    full type when it is not an ACME error URN), `status` the HTTP status (from the document,
    else from the response), `identifier` the `{"type","value"}` a subproblem is about, and
    `subproblems` a tuple of `AcmeProblem`.
    """

    def __init__(
        self,
        type: str,
        detail: str = "",
        status: int | None = None,
        *,
        title: str | None = None,
        identifier: Mapping[str, Any] | None = None,
        subproblems: tuple["AcmeProblem", ...] = (),
        url: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.type = type
        #: Seconds from the answer's `Retry-After` (rateLimited, 429, 503), if it had one.
        self.retry_after = retry_after
        self.detail = detail
        self.status = status
        self.title = title
        self.identifier = dict(identifier) if identifier else None
        self.subproblems = subproblems
        self.url = url
        super().__init__(self._message())

    @property
    def short_type(self) -> str:
        """`badNonce` for `urn:ietf:params:acme:error:badNonce`; other types unchanged."""
        if self.type.startswith(ERROR_PREFIX):
            return self.type[len(ERROR_PREFIX):]
        return self.type

    def _message(self) -> str:
        parts = [self.short_type]
        if self.status is not None:
            parts.append(f"(HTTP {self.status})")
        text = " ".join(parts)
        if self.identifier:
            text = f"{self.identifier.get('value')}: {text}"
        if self.detail:
            text += f": {self.detail}"
        if self.url:
            text += f" [{self.url}]"
        for sub in self.subproblems:
            text += f"\n  - {sub}"
        return text

    @classmethod
    def from_json(
        cls, doc: Mapping[str, Any], *, status: int | None = None, url: str | None = None
    ) -> "AcmeProblem":
        """Build from a problem document (also used for `error` fields of orders/challenges).

        The document is decoded with `acme.messages.Error` (types, identifiers, subproblems);
        `status` is read here because that class drops it.
        """
        try:
            err = messages.Error.from_json(dict(doc))
        except Exception:  # noqa: BLE001 - a malformed problem is still worth reporting
            return cls(
                str(doc.get("type", "about:blank")),
                str(doc.get("detail", "")),
                status,
                url=url,
            )
        return cls._from_message(err, doc, status=status, url=url)

    @classmethod
    def _from_message(
        cls,
        err: messages.Error,
        doc: Mapping[str, Any],
        *,
        status: int | None,
        url: str | None,
    ) -> "AcmeProblem":
        doc_status = doc.get("status")
        subdocs = doc.get("subproblems") or []
        subs = tuple(
            cls._from_message(
                sub, subdoc if isinstance(subdoc, Mapping) else {}, status=None, url=None
            )
            for sub, subdoc in zip(err.subproblems or (), subdocs)
        )
        identifier = None
        if err.identifier is not None:
            identifier = {"type": err.identifier.typ.name, "value": err.identifier.value}
        return cls(
            str(err.typ),
            err.detail or "",
            doc_status if isinstance(doc_status, int) else status,
            title=err.title,
            identifier=identifier,
            subproblems=subs,
            url=url,
        )


def problem_from_body(status: int, body: bytes, url: str) -> AcmeProblem:
    """Turn an error response into an `AcmeProblem`, even if the body is not a problem document.

    A proxy or a crashed CA may answer with HTML or nothing; the caller still gets a typed error
    carrying the HTTP status and the start of the body instead of a JSON decode error.
    """
    try:
        doc = json.loads(body) if body else None
    except ValueError:
        doc = None
    if isinstance(doc, Mapping) and "type" in doc:
        return AcmeProblem.from_json(doc, status=status, url=url)
    snippet = body[:200].decode("utf-8", "replace").strip()
    return AcmeProblem(
        "about:blank",
        f"HTTP {status} without a problem document" + (f": {snippet}" if snippet else ""),
        status,
        url=url,
    )

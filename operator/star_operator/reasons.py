"""Closed vocabularies for what the operator reports about failures it did not name itself.

Why closed: a condition reason and the ``reason`` label of
``star_operator_certificate_fetch_errors_total`` are read by alerts (the chart's PrometheusRule
matches ``AcmeConnectionError|AcmeTlsError``) and by people; taken from ``type(exc).__name__``
or from whatever problem type a CA sends, they changed with a refactoring and let a CA create
label values without bound. Here every value is listed, and anything else maps to a catch-all
(Pebble's ``acme/problems.go`` and certbot's ``messages.Error`` keep the same kind of list).
"""

from __future__ import annotations

import enum

import aiohttp

from star_operator import acme, k8s


class Failure(enum.StrEnum):
    """A failed step the operator has no more specific reason for (wire values kept where
    users already saw them, e.g. in alert expressions)."""

    CA_UNREACHABLE = "AcmeConnectionError"
    CA_TLS = "AcmeTlsError"
    CA_TIMEOUT = "AcmeTimeout"
    CA_PROTOCOL = "AcmeProtocolError"
    CA_ERROR = "AcmeError"
    CA_PROBLEM = "AcmeProblem"  # a problem type outside :class:`ProblemType`
    API_SERVER = "APIServerError"
    TIMEOUT = "TimeoutError"
    CONNECTION = "ConnectionError"  # to the API server or a peer, below HTTP
    INVALID_RESPONSE = "InvalidResponse"
    ERROR = "Error"


class ProblemType(enum.StrEnum):
    """ACME problem types (``urn:ietf:params:acme:error:<value>``) of RFC 8555 §6.7, RFC 8739
    §3.1.2/§3.3 and RFC 9115 §2.3; the only ones reported by name."""

    ACCOUNT_DOES_NOT_EXIST = "accountDoesNotExist"
    ALREADY_REPLACED = "alreadyReplaced"
    ALREADY_REVOKED = "alreadyRevoked"
    BAD_CSR = "badCSR"
    BAD_NONCE = "badNonce"
    BAD_PUBLIC_KEY = "badPublicKey"
    BAD_REVOCATION_REASON = "badRevocationReason"
    BAD_SIGNATURE_ALGORITHM = "badSignatureAlgorithm"
    CAA = "caa"
    COMPOUND = "compound"
    CONNECTION = "connection"
    DNS = "dns"
    EXTERNAL_ACCOUNT_REQUIRED = "externalAccountRequired"
    INCORRECT_RESPONSE = "incorrectResponse"
    INVALID_CONTACT = "invalidContact"
    MALFORMED = "malformed"
    ORDER_NOT_READY = "orderNotReady"
    RATE_LIMITED = "rateLimited"
    REJECTED_IDENTIFIER = "rejectedIdentifier"
    SERVER_INTERNAL = "serverInternal"
    TLS = "tls"
    UNAUTHORIZED = "unauthorized"
    UNSUPPORTED_CONTACT = "unsupportedContact"
    UNSUPPORTED_IDENTIFIER = "unsupportedIdentifier"
    USER_ACTION_REQUIRED = "userActionRequired"
    AUTO_RENEWAL_CANCELED = "autoRenewalCanceled"
    AUTO_RENEWAL_EXPIRED = "autoRenewalExpired"
    AUTO_RENEWAL_CANCELLATION_INVALID = "autoRenewalCancellationInvalid"
    AUTO_RENEWAL_REVOCATION_NOT_SUPPORTED = "autoRenewalRevocationNotSupported"
    UNKNOWN_DELEGATION = "unknownDelegation"

    @classmethod
    def of(cls, problem: acme.AcmeProblem) -> ProblemType | None:
        """The problem's registered type, or None for a type this list does not hold."""
        try:
            return cls(problem.short_type)
        except ValueError:
            return None


def problem_reason(problem: acme.AcmeProblem) -> str:
    """A CA problem as a reason: its registered type, else :attr:`Failure.CA_PROBLEM`."""
    return ProblemType.of(problem) or Failure.CA_PROBLEM


def failure_of(exc: BaseException) -> Failure:
    """The reason for an exception no step named (most specific class first)."""
    for kind, failure in _BY_CLASS:
        if isinstance(exc, kind):
            return failure
    return Failure.ERROR


_BY_CLASS: tuple[tuple[type[BaseException], Failure], ...] = (
    (acme.AcmeProblem, Failure.CA_PROBLEM),
    (acme.AcmeTlsError, Failure.CA_TLS),
    (acme.AcmeConnectionError, Failure.CA_UNREACHABLE),
    (acme.AcmeTimeout, Failure.CA_TIMEOUT),
    (acme.AcmeProtocolError, Failure.CA_PROTOCOL),
    (acme.AcmeError, Failure.CA_ERROR),
    (k8s.ApiError, Failure.API_SERVER),
    (TimeoutError, Failure.TIMEOUT),  # before OSError: TimeoutError is one
    (aiohttp.ClientError, Failure.CONNECTION),
    (OSError, Failure.CONNECTION),
    (ValueError, Failure.INVALID_RESPONSE),
)

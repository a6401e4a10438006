"""The solver interface the ACME client drives, and the error every solver raises."""

from __future__ import annotations

import enum
from typing import Protocol, runtime_checkable


class DnsFailure(enum.StrEnum):
    """Why a DNS step failed, as conditions, Events and logs name it (dns-01 and the DNO's
    other records, :mod:`star_operator.zone_records`). Closed: these values (docs/operator.md
    lists them) and no others; the error's message says which case it was."""

    #: The server refused the update: TSIG key unknown (BADKEY), secret or algorithm wrong
    #: (BADSIG), clock skew (BADTIME), REFUSED or NOTAUTH for the update.
    UPDATE_REFUSED = "DNSUpdateRefused"
    #: No connection, no answer within the timeout, or the server's name does not resolve.
    SERVER_UNREACHABLE = "DNSServerUnreachable"
    #: The solver's settings: no server or TSIG key name, a TSIG secret that is not base64 or
    #: empty, an unsupported TSIG algorithm, an invalid zone.
    SETTINGS_INVALID = "DNSSettingsInvalid"
    #: The server is not authoritative for the name (REFUSED look-ups, NOTZONE, a referral, no
    #: zone found).
    NOT_AUTHORITATIVE = "DNSNotAuthoritative"
    #: Anything else: an invalid name or TXT value, a CNAME loop, a record not served within the
    #: timeout, an odd answer.
    UPDATE_FAILED = "DNSUpdateFailed"


class Dns01Error(Exception):
    """A dns-01 challenge record (or another record of the zone) could not be published,
    verified or removed; ``reason`` (:class:`DnsFailure`) is what conditions, Events and logs
    show, the message says what exactly went wrong."""

    def __init__(self, message: str, *, reason: DnsFailure = DnsFailure.UPDATE_FAILED) -> None:
        super().__init__(message)
        self.reason = reason


@runtime_checkable
class ChallengeSolver(Protocol):
    """Publishes and removes the TXT record of a dns-01 challenge.

    ``domain`` is the identifier being validated, possibly a wildcard (``*.example.test``);
    ``value`` is the TXT value (base64url SHA-256 of the key authorization).
    ``present`` returns once the record is served; ``cleanup`` removes only that value.
    """

    async def present(self, domain: str, value: str) -> None: ...

    async def cleanup(self, domain: str, value: str) -> None: ...

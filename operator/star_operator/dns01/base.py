"""The solver interface the ACME client drives, and the error every solver raises."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


class Dns01Error(Exception):
    """A dns-01 challenge record could not be published, verified or removed.

    ``reason`` is a short machine-readable code for status conditions and metrics:
    ``invalid-name``, ``invalid-value``, ``invalid-config``, ``bad-key`` (the server does not know
    the TSIG key name), ``bad-signature`` (secret or algorithm wrong), ``bad-time`` (clock skew),
    ``refused``, ``not-auth``, ``not-authoritative``, ``unreachable``, ``timeout``, ``not-visible``,
    ``server-error``, ``cname-loop``.
    """

    def __init__(self, message: str, *, reason: str = "error") -> None:
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

"""Turn a failed CA or DNS step into a specific condition reason and message.

A user reading ``kubectl get starorder`` should learn *what* to fix (the TSIG key, the DNS
server, the CA, the Secret) from the reason alone; a generic "error" sends them to the logs.
Pure functions, so the mapping is unit-tested without a cluster.
"""

from __future__ import annotations

from star_operator import acme
from star_operator.dns01 import Dns01Error
from star_operator.reasons import ProblemType


def classify_order_error(exc: acme.AcmeError | Dns01Error) -> tuple[str, str]:
    """(reason, message) for a failure while placing or progressing a STAR order."""
    if isinstance(exc, Dns01Error):
        return exc.reason, f"dns-01 by RFC 2136 failed: {exc}"
    if isinstance(exc, acme.AcmeTlsError):
        return "CATLSVerifyFailed", f"{exc} (check spec.acme.caBundleSecretRef)"
    if isinstance(exc, acme.AcmeConnectionError):
        return "CAUnreachable", str(exc)
    if isinstance(exc, acme.AcmeProblem):
        kind = ProblemType.of(exc)  # a CA's own problem types must not become reasons
        return (f"CA{kind}" if kind else "CAProblem"), str(exc)
    return "CAError", str(exc)


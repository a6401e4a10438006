"""The one exception type commands raise: a message for one line on stderr and an exit code."""
from __future__ import annotations

#: Exit codes: success, an error (not found, forbidden, bad kubeconfig, ...), and "not possible
#: on this path" (e.g. forcing the renewal of a native STAR order, which the CA renews itself).
OK = 0
ERROR = 1
NOT_POSSIBLE = 2


class CliError(Exception):
    """Reported as ``kubectl-star: error: <message>`` on stderr, exit ``code``."""

    def __init__(self, message: str, code: int = ERROR) -> None:
        super().__init__(message)
        self.message, self.code = message, code

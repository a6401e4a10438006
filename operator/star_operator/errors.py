"""A base for errors that end up as a condition: a CamelCase ``reason`` plus a human message."""

from __future__ import annotations


class ReasonedError(Exception):
    """Carries what a Ready condition (and Event) needs: ``reason`` and ``message``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message

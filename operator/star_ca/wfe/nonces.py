"""Single-use anti-replay nonces (RFC 8555 §6.5), kept in memory.

Losing them on restart is harmless: clients get ``badNonce`` and retry with a fresh one, which
every ACME client does. A bounded dict keeps memory flat under load (oldest nonces go first).
"""
from __future__ import annotations

import secrets


class NonceStore:
    def __init__(self, capacity: int = 200_000) -> None:
        self._live: dict[str, None] = {}
        self._capacity = capacity

    def new(self) -> str:
        nonce = secrets.token_urlsafe(16)
        self._live[nonce] = None
        if len(self._live) > self._capacity:
            del self._live[next(iter(self._live))]
        return nonce

    def consume(self, nonce: str) -> bool:
        """True exactly once per issued nonce."""
        try:
            del self._live[nonce]
        except KeyError:
            return False
        return True

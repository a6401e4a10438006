"""Single-use anti-replay nonces (RFC 8555 §6.5).

:class:`NonceStore` keeps them in memory, for one process (the embedded CA, the delegation
front end). Losing them on restart is harmless: clients get ``badNonce`` and retry with a fresh
one, which every ACME client does. A bounded dict keeps memory flat under load (oldest nonces
go first).

:class:`SharedNonces` is for replicas on one database, where the nonce a client got from one
replica comes back to another. Minting stores nothing: a nonce is its mint time, 8 random
bytes and an HMAC over both under a key every replica reads from the database, so any replica
can tell its peers' nonces from forgeries. Only a used nonce is written (its row's primary key
is what makes it single-use), and only until it would have expired anyway.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import struct
import time
from collections.abc import Callable
from typing import Protocol

import josepy as jose

from star_ca.db import Store

NONCE_LIFETIME = 600.0  # seconds a SharedNonces nonce is accepted after it was minted
PRUNE_EVERY = 60.0
_KEY_NAME = "nonce_hmac_key"
_MAC_LEN = 16


class Nonces(Protocol):
    def new(self) -> str: ...

    async def consume(self, nonce: str) -> bool:
        """True exactly once per nonce this CA issued."""
        ...


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

    async def consume(self, nonce: str) -> bool:
        try:
            del self._live[nonce]
        except KeyError:
            return False
        return True


class SharedNonces:
    def __init__(self, store: Store, key: bytes, clock: Callable[[], float] = time.time) -> None:
        self._store, self._key, self._clock = store, key, clock
        self._next_prune = 0.0

    @classmethod
    async def open(cls, store: Store) -> SharedNonces:
        """Nonces under the key the first replica stored (this one's if it is the first)."""
        await store.add_meta({_KEY_NAME: secrets.token_bytes(32)})
        key = await store.get_meta(_KEY_NAME)
        assert key is not None, "the nonce key was just stored"
        return cls(store, key)

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self._key, body, hashlib.sha256).digest()[:_MAC_LEN]

    def new(self) -> str:
        body = struct.pack(">d", self._clock()) + secrets.token_bytes(8)
        return jose.encode_b64jose(body + self._mac(body))

    async def consume(self, nonce: str) -> bool:
        try:
            raw = jose.decode_b64jose(nonce)
        except (jose.DeserializationError, ValueError):  # not base64url: not one of ours
            return False
        body, mac = raw[:-_MAC_LEN], raw[-_MAC_LEN:]
        if len(body) != 16 or not hmac.compare_digest(mac, self._mac(body)):
            return False
        now = self._clock()
        minted = struct.unpack(">d", body[:8])[0]
        if not minted - 5.0 <= now <= minted + NONCE_LIFETIME:  # 5 s for replicas' clocks
            return False
        if now >= self._next_prune:
            self._next_prune = now + PRUNE_EVERY
            await self._store.prune_used_nonces(now)
        return await self._store.use_nonce(nonce, minted + NONCE_LIFETIME)

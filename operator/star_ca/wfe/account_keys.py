"""Parsed account public keys, kept per (account, thumbprint).

Parsing a JWK costs about as much as verifying the signature it checks, and every ACME POST
after newAccount names its account by ``kid``, so the parsed key is kept. The key of the entry
is the account's current thumbprint: a keyChange makes a new entry and the old key is never
used again. One instance belongs to the CA's Services (not a module global), so each CA (and
each test) has its own.
"""
from __future__ import annotations

import josepy as jose

from star_ca.db import Account
from star_ca.ttl_cache import TtlCache

MAX_CACHED_KEYS = 50_000
FOREVER = float("inf")


class AccountKeys:
    def __init__(self, capacity: int = MAX_CACHED_KEYS) -> None:
        self._keys: TtlCache[tuple[str, str], jose.JWK] = TtlCache(capacity)

    def key(self, account: Account) -> jose.JWK:
        cache_key = (account.id, account.thumbprint)
        hit = self._keys.get(cache_key)
        if hit is not None:
            return hit[0]
        key: jose.JWK = jose.JWK.from_json(account.jwk)  # type: ignore[assignment]
        self._keys.put(cache_key, key, FOREVER)
        return key

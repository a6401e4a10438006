"""Secrets a StarOrder just staged its key in, handed to the StarCertificate that writes the
first certificate into them.

Why: the create that staged the key answers with the Secret and its resourceVersion, and the
StarCertificate's first cycle, a second later in the same process, would GET it again: one API
request per new order. Handed this copy, the cycle verifies the certificate against the key in
it and writes over exactly that version, as a rotation does over the version its last write
left (:mod:`star_operator.renewal.fetcher`): anything that happened to the Secret in between
(a 409, a 404, a key that no longer matches) sends the cycle to a fresh read, so a stale copy
costs a request, never a wrong write. Held as compact JSON (:func:`compact`) until taken; a copy
never taken (the order failed at the CA, or the StarCertificate runs in another replica after
a restart) is pushed out by newer ones (``limit``). It holds a private key: never in a repr.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

#: Copies held at most (4.5 MB): many more than the StarOrders between staging and their first
#: fetch at any moment, which the issuance slots bound (``MAX_CONCURRENT_ISSUANCES``).
DEFAULT_LIMIT = 1024


def compact(secret: Mapping[str, Any] | None, drop_data: tuple[str, ...] = ()) -> bytes | None:
    """``secret`` as compact JSON, server-owned managedFields left out (a PUT without them
    keeps the server's): 4.5 KB for a STAR Secret where the parsed object takes 8 KB.
    ``drop_data``: ``data`` entries the next write over this copy sets in any case."""
    if secret is None:
        return None
    meta = {k: v for k, v in (secret.get("metadata") or {}).items() if k != "managedFields"}
    kept = {**secret, "metadata": meta}
    if drop_data and isinstance(secret.get("data"), Mapping):
        kept["data"] = {k: v for k, v in secret["data"].items() if k not in drop_data}
    return json.dumps(kept, separators=(",", ":")).encode()


class SecretHandoff:
    """Staged Secrets by (namespace, name), each taken once."""

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self.limit = limit
        self._held: dict[tuple[str, str], bytes] = {}

    def __repr__(self) -> str:
        return f"SecretHandoff({len(self._held)} held)"

    def put(self, namespace: str, name: str, secret: Mapping[str, Any] | None) -> None:
        """Hold the Secret as a write just left it (None: forget any copy of it)."""
        key = (namespace, name)
        self._held.pop(key, None)
        kept = compact(secret)
        if kept is None:
            return
        self._held[key] = kept
        while len(self._held) > self.limit:
            del self._held[next(iter(self._held))]  # the oldest: insertion order

    def take(self, namespace: str, name: str) -> bytes | None:
        """The copy held for this Secret, removed (None: nothing held)."""
        return self._held.pop((namespace, name), None)

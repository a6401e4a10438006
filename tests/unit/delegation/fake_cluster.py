"""An in-memory stand-in for :class:`star_operator.delegation.cluster.Cluster` (unit tests of
the protocol only; the integration tests use the real control plane). Merge patches follow
RFC 7386, and create of an existing name raises the same Conflict the API server's 409 does."""
from __future__ import annotations

import copy
import itertools
from collections.abc import Mapping
from typing import Any

from star_operator import constants as c
from star_operator import k8s


def merge(target: Any, patch: Any) -> Any:
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge(out.get(key), value)
    return out


class FakeCluster:
    namespace = "dno"

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self._versions = itertools.count(1)

    def put(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        body = copy.deepcopy(body)
        meta = body.setdefault("metadata", {})
        meta.setdefault("namespace", self.namespace)
        meta.setdefault("uid", f"uid-{meta['name']}")
        meta["resourceVersion"] = str(next(self._versions))
        self.objects[(kind, meta["name"])] = body
        return copy.deepcopy(body)

    def _get(self, kind: str, name: str) -> dict[str, Any] | None:
        found = self.objects.get((kind, name))
        return copy.deepcopy(found) if found else None

    async def delegations(self) -> list[dict[str, Any]]:
        return [copy.deepcopy(v) for (k, _), v in sorted(self.objects.items())
                if k == c.DELEGATION_KIND]

    async def delegation(self, name: str) -> dict[str, Any] | None:
        return self._get(c.DELEGATION_KIND, name)

    async def patch_delegation_status(self, name: str, status: Mapping[str, Any],
                                      resource_version: str | None = None) -> dict[str, Any]:
        body = self.objects[(c.DELEGATION_KIND, name)]
        if resource_version and body["metadata"]["resourceVersion"] != resource_version:
            raise k8s.Conflict(409, "Conflict", "the object has been modified")
        return self.put(c.DELEGATION_KIND, merge(body, {"status": status}))

    async def csr_template(self, name: str) -> dict[str, Any] | None:
        return self._get(c.CSRTEMPLATE_KIND, name)

    async def secret(self, name: str) -> dict[str, Any] | None:
        return self._get("Secret", name)

    async def star_order(self, name: str) -> dict[str, Any] | None:
        return self._get(c.STARORDER_KIND, name)

    async def star_orders(self, delegation: str) -> list[dict[str, Any]]:
        return [copy.deepcopy(v) for (k, _), v in self.objects.items()
                if k == c.STARORDER_KIND
                and v["metadata"].get("labels", {}).get(c.DELEGATION_LABEL) == delegation]

    async def create_star_order(self, body: Mapping[str, Any]) -> dict[str, Any]:
        if (c.STARORDER_KIND, body["metadata"]["name"]) in self.objects:
            raise k8s.Conflict(409, "AlreadyExists", "exists")
        return self.put(c.STARORDER_KIND, dict(body))

    async def patch_star_order(self, name: str, patch: Mapping[str, Any]) -> dict[str, Any]:
        return self.put(c.STARORDER_KIND, merge(self.objects[(c.STARORDER_KIND, name)], patch))

    def set_status(self, kind: str, name: str, status: dict[str, Any]) -> None:
        """What the operator would write (tests play the operator)."""
        self.put(kind, merge(self.objects[(kind, name)], {"status": status}))

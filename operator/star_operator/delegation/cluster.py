"""The front end's only storage: the Kubernetes API, in the one namespace it serves.

A thin typed layer over :class:`star_operator.k8s.KubeClient` (passed in, so tests can point
it at any control plane) naming exactly the calls the front end's RBAC allows: read
Delegations/CsrTemplates/Secrets, write Delegation status, create/patch StarOrders.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from star_operator import constants as c
from star_operator import k8s


class Cluster:
    """Calls in ``namespace`` (CsrTemplates are cluster-scoped)."""

    def __init__(self, client: k8s.KubeClient, namespace: str) -> None:
        self.client, self.namespace = client, namespace

    async def delegations(self) -> list[dict[str, Any]]:
        answer = await self.client.request(
            "GET", k8s.custom_path(c.DELEGATION_PLURAL, self.namespace))
        return list(answer.get("items") or [])

    async def delegation(self, name: str) -> dict[str, Any] | None:
        return await self._get(k8s.custom_path(c.DELEGATION_PLURAL, self.namespace, name))

    async def patch_delegation_status(self, name: str, status: Mapping[str, Any],
                                      resource_version: str | None = None) -> dict[str, Any]:
        """Merge-patch status; with ``resource_version`` the patch fails with
        :class:`k8s.Conflict` if the object changed since it was read."""
        body: dict[str, Any] = {"status": dict(status)}
        if resource_version:
            body["metadata"] = {"resourceVersion": resource_version}
        return await self.client.request(
            "PATCH", k8s.custom_path(c.DELEGATION_PLURAL, self.namespace, name, "status"),
            body=body, content_type=k8s.MERGE_PATCH)

    async def csr_template(self, name: str) -> dict[str, Any] | None:
        return await self._get(k8s.custom_path(c.CSRTEMPLATE_PLURAL, None, name))

    async def secret(self, name: str) -> dict[str, Any] | None:
        return await self._get(k8s.secret_path(self.namespace, name))

    async def star_order(self, name: str) -> dict[str, Any] | None:
        return await self._get(k8s.custom_path(c.STARORDER_PLURAL, self.namespace, name))

    async def star_orders(self, delegation: str) -> list[dict[str, Any]]:
        answer = await self.client.request(
            "GET", k8s.custom_path(c.STARORDER_PLURAL, self.namespace),
            params={"labelSelector": f"{c.DELEGATION_LABEL}={delegation}"})
        return list(answer.get("items") or [])

    async def create_star_order(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Create; :class:`k8s.Conflict` if one of that name exists."""
        return await self.client.request(
            "POST", k8s.custom_path(c.STARORDER_PLURAL, self.namespace), body=dict(body))

    async def patch_star_order(self, name: str, patch: Mapping[str, Any]) -> dict[str, Any]:
        return await self.client.request(
            "PATCH", k8s.custom_path(c.STARORDER_PLURAL, self.namespace, name),
            body=dict(patch), content_type=k8s.MERGE_PATCH)

    async def _get(self, path: str) -> dict[str, Any] | None:
        try:
            return await self.client.request("GET", path)
        except k8s.NotFound:
            return None

"""The CsrTemplate a Delegation names, parsed with the operator's own parser, so the front end
checks exactly what the operator will check when it orders."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from star_ca.problems import AcmeError
from star_operator.delegation.cluster import Cluster
from star_operator.ordering.templates import TemplatePolicy, TemplateSpecError, parse_template


async def template_policy(cluster: Cluster, delegation: Mapping[str, Any]) -> TemplatePolicy:
    """The policy, or a 500 problem naming the DNO-side defect (not the NDC's fault)."""
    name = (delegation.get("spec") or {}).get("csrTemplateName", "")
    body = await cluster.csr_template(name)
    if body is None:
        raise AcmeError("serverInternal", f"the delegation's CsrTemplate {name!r} does not "
                                          "exist; the domain owner must fix the Delegation")
    try:
        policy = parse_template(body, cluster.namespace)
    except TemplateSpecError as exc:
        raise AcmeError("serverInternal", f"the delegation's CsrTemplate {name!r} is invalid "
                                          f"({exc}); the domain owner must fix it") from None
    if not policy.allows_namespace(cluster.namespace):
        raise AcmeError("serverInternal", f"CsrTemplate {name!r} does not allow namespace "
                                          f"{cluster.namespace!r}; the domain owner must fix it")
    return policy

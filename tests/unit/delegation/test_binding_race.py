"""Account binding racing the operator's status write on the same Delegation (it writes Ready
right after the Delegation is applied, when the CDN registers): the front end re-reads and
binds, and answers 503 with Retry-After only while the Delegation keeps changing."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from star_operator import k8s
from star_operator.delegation import binding
from tests.integration.delegation.ndc_client import Ndc
from tests.unit.delegation.fake_cluster import FakeCluster
from tests.unit.delegation.served import serve
from tests.unit.delegation.test_rfc9115_interop import MAC, dno_cluster


def racing(cluster: FakeCluster, conflicts: int) -> list[int]:
    """The first ``conflicts`` conditional status writes lose (409); returns the count left."""
    left, real = [conflicts], cluster.patch_delegation_status

    async def patch(name: str, status: Any, resource_version: str | None = None) -> Any:
        if left[0]:
            left[0] -= 1
            raise k8s.Conflict(409, "Conflict", "the object has been modified")
        return await real(name, status, resource_version)
    cluster.patch_delegation_status = patch  # type: ignore[method-assign]
    return left


def register(cluster: FakeCluster, tmp_path: Path) -> Any:
    with serve(cluster, tmp_path) as base:
        return Ndc(base + "/directory", (tmp_path / "tls.crt").read_text()).register(
            "ndc-key", MAC)


def test_a_lost_race_is_retried_and_the_account_bound(tmp_path: Path) -> None:
    cluster = dno_cluster()
    left = racing(cluster, binding.BIND_ATTEMPTS - 1)
    assert register(cluster, tmp_path).status == 201
    assert left == [0]
    record = cluster.objects[("Delegation", "gm0wfLYHBen")]["status"]["account"]
    assert record["keyID"] == "ndc-key" and record["status"] == "valid"


def test_a_delegation_that_keeps_changing_is_a_503_to_retry(tmp_path: Path) -> None:
    cluster = dno_cluster()
    racing(cluster, binding.BIND_ATTEMPTS)
    answer = register(cluster, tmp_path)
    assert (answer.status, answer.headers.get("Retry-After")) == (503, "1")
    assert "account" not in (cluster.objects[("Delegation", "gm0wfLYHBen")].get("status") or {})

"""RFC 9115 cname-map records (star_operator.zone_records.cname_map, what the Delegation
handler calls) in a real BIND 9, through a real CsrTemplate and TSIG Secret in the real
control plane: installed, moved, refused outside the template's domains, removed."""
from __future__ import annotations

import base64
import functools
import secrets
import types
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import kopf
import pytest
from op_env import OPERATOR_NS, StarEnv, installed

from star_devenv.kubectl import Kubectl
from star_operator import k8s
from star_operator.zone_records import cname_map

pytestmark = [pytest.mark.cluster, pytest.mark.dns]

EDGE = "edge.cdn.example."


@pytest.fixture(scope="module")
def zone_env(kubectl: Kubectl, crds: None, dns_server: Any) -> Iterator[StarEnv]:
    """A CsrTemplate and its TSIG Secret; no CA is ever contacted here."""
    ca = types.SimpleNamespace(directory_url="https://ca.invalid/directory")
    with installed(StarEnv(kubectl, dns_server, ca, suffix=f"c{uuid.uuid4().hex[:5]}",
                           trust_pem="unused")) as env:
        yield env


@pytest.fixture
async def api(control_plane: Any, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    """This process's star_operator.k8s client, logged in as the operator logs in."""
    monkeypatch.setenv("KUBECONFIG", str(Path(control_plane.kubeconfig)))
    client = k8s.configure(kopf.login_with_kubeconfig(settings=kopf.OperatorSettings()))
    yield
    await client.close()


async def test_cname_map_appears_moves_and_disappears(zone_env: StarEnv, dns_server: Any,
                                                       api: None) -> None:
    first, second = (f"{label}-{zone_env.suffix}.star.test" for label in ("cdn", "img"))
    sync = functools.partial(cname_map.sync, zone_env.template, default_namespace=OPERATOR_NS)
    await sync({first + ".": EDGE})
    assert dns_server.query(first, "CNAME") == [EDGE]
    await sync({first + ".": EDGE})  # a resume: nothing changes, nothing fails
    assert dns_server.query(first, "CNAME") == [EDGE]

    await sync({second: "Edge.CDN.example"}, {first + ".": EDGE})  # the map was edited
    assert dns_server.query(first, "CNAME") == []
    assert dns_server.query(second, "CNAME") == [EDGE]

    await cname_map.remove(zone_env.template, {second + ".": EDGE},
                           default_namespace=OPERATOR_NS)
    assert dns_server.query(second, "CNAME") == []


async def test_cname_map_refusals_are_named_and_change_nothing(zone_env: StarEnv,
                                                               dns_server: Any,
                                                               api: None) -> None:
    outside = "www.elsewhere.test."
    with pytest.raises(cname_map.ZoneRecordError) as refused:
        await cname_map.sync(zone_env.template, {outside: EDGE},
                             default_namespace=OPERATOR_NS)
    assert refused.value.reason == "CnameMapInvalid" and outside in refused.value.message

    host = f"tsig-{zone_env.suffix}.star.test"
    wrong = base64.b64encode(secrets.token_bytes(32)).decode()
    zone_env.set_tsig(wrong)
    try:
        with pytest.raises(cname_map.ZoneRecordError) as refused:
            await cname_map.sync(zone_env.template, {host: EDGE},
                                 default_namespace=OPERATOR_NS)
    finally:
        zone_env.set_tsig(dns_server.tsig_secret)
    assert refused.value.reason == "DNSUpdateRefused"
    assert wrong not in refused.value.message and dns_server.tsig_secret not in str(
        refused.value)
    assert dns_server.query(host, "CNAME") == []

"""CAA records a CsrTemplate asks for (spec.caa, RFC 9115 §7.4), against the real control plane,
BIND 9 and star-ca: the operator publishes one record per domain allowing only the template's
CA, ACME account and dns-01; the DNO's own StarOrder is issued, the CDN's own account is refused
by star-ca even when it can answer dns-01; a record someone edits is reported and put back."""
from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import josepy as jose
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from op_delegated import cdn_request
from op_env import OPERATOR_NS, StarEnv, get, wait_condition

from star_devenv.ca import LocalCA
from star_devenv.kubectl import Kubectl
from star_operator import acme
from star_operator.dns01 import Rfc2136Solver
from star_operator.ordering import accounts
from star_operator.zone_records import caa
from tests.waiting import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.dns]


@pytest.fixture(scope="module")
def caa_env(kubectl: Kubectl, crds: None, dns_server: Any, star_ca: LocalCA
            ) -> Iterator[StarEnv]:
    """A template of its own for a subdomain nobody else uses (CAA climbs to the closest
    name, so nothing else in star.test is affected), publishing CAA with a 1 s check."""
    env = StarEnv(kubectl, dns_server, star_ca, suffix=f"a{uuid.uuid4().hex[:5]}")
    env.domain = f"caa-{env.suffix}.star.test"
    if not kubectl.exists("namespace", OPERATOR_NS):
        kubectl.run("create", "namespace", OPERATOR_NS)
    env.secret(f"ca-{env.suffix}", {"ca.crt": env.root_pem})
    env.set_tsig(dns_server.tsig_secret)
    manifest = env.template_manifest(env.template, ["*"])
    manifest["spec"]["domains"] = [env.domain]
    manifest["spec"]["caa"] = {"publish": True, "checkInterval": "1s", "ttl": 5}
    kubectl.apply(manifest)
    yield env
    env.uninstall()
    dns_server.delete_rrset(env.domain, "CAA")


def published(kubectl: Kubectl, env: StarEnv, reason: str) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        obj = get(kubectl, "csrtemplate", env.template) or {}
        conds = {c["type"]: c for c in (obj.get("status") or {}).get("conditions") or ()}
        cond = conds.get("CAAPublished") or {}
        return obj if cond.get("status") == "True" and cond.get("reason") == reason else None
    return wait_for(check, 60, f"CAAPublished {reason}")


def template_events(kubectl: Kubectl, name: str, reason: str) -> list[dict[str, Any]]:
    return [e for e in kubectl.get_json("events", "-A")["items"]
            if e["involvedObject"].get("name") == name and e["reason"] == reason]


async def _cdn_orders_itself(env: StarEnv, dns: Any, host: str) -> acme.AcmeProblem:
    """The CDN with an account of its own at the CA, and (to show CAA alone stops it) able to
    answer dns-01: ordering, validating and finalizing for one of the DNO's names."""
    key = jose.JWK.load(accounts.new_account_key_pem())
    async with acme.AcmeClient(env.ca.directory_url, key, ca_bundle=env.root_pem) as client:
        await client.register()
        order = await client.new_order([host])
        await client.solve_authorizations(order, Rfc2136Solver(
            dns.host, dns.port, dns.tsig_key_name, dns.tsig_secret,
            tsig_algorithm=dns.tsig_algorithm))
        _, csr = cdn_request(env, [host])
        der = x509.load_pem_x509_csr(csr.encode()).public_bytes(serialization.Encoding.DER)
        with pytest.raises(acme.AcmeProblem) as refused:
            await client.finalize(await client.get_order(order.url), der)
        return refused.value


def test_caa_published_dno_allowed_cdn_refused_and_drift_repaired(
        kubectl: Kubectl, caa_env: StarEnv, dns_server: Any, operator_process,
        namespace: str) -> None:
    env = caa_env
    obj = published(kubectl, env, "Published")
    wanted = caa.issue_value("star-ca.test", obj["status"]["accountURL"])
    assert obj["status"]["caa"] == {"domains": [env.domain], "value": wanted}
    assert caa.same_rrset(dns_server.query(env.domain, "CAA"), wanted)

    # the DNO's own account, by dns-01: issued under the record
    host = f"www.{env.domain}"
    kubectl.apply(env.star_order("dno", namespace, [host]))
    wait_condition(kubectl, "starorder", "dno", namespace, status="True", reason="Issued",
                   timeout=120)
    # the CDN's own account: refused by the CA, naming CAA
    problem = asyncio.run(_cdn_orders_itself(env, dns_server, f"cdn.{env.domain}"))
    assert "caa" in f"{problem.short_type} {problem}".lower(), problem
    assert "accounturi" in str(problem) or any("accounturi" in str(s)
                                               for s in problem.subproblems), problem

    # someone edits the record: reported and put back within a check interval or two
    dns_server.set_caa(env.domain, ['0 issue "evil.example"'])
    obj = published(kubectl, env, "DriftRepaired")
    assert caa.same_rrset(dns_server.query(env.domain, "CAA"), wanted)
    assert "evil.example" in obj["status"]["caa"]["lastDrift"]
    assert obj["status"]["caa"]["repairs"] == 1
    drift = wait_for(lambda: template_events(kubectl, env.template, "CAADrift"), 30,
                     "the CAADrift Event")
    assert drift[0]["type"] == "Warning" and "evil.example" in drift[0]["message"]

"""An emulated STAR series against star-ca playing a public CA: STAR off, ACME profiles with
seconds-long validity, ARI windows. The operator must time every renewal by the CA's window,
name the certificate it replaces, verify and install each one, and revoke on deletion."""
from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from op_env import (StarEnv, ca_orders, ca_replaced, ca_revocations, events, get, secret_tls,
                    warned, wait_condition)

from star_devenv.ca import LocalCA
from star_devenv.kubectl import Kubectl
from star_operator import acme, timeutil
from star_operator.verify import verify_certificate
from tests.waiting import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.dns]

SHORT = 10  # seconds: the profile's certificate validity


@pytest.fixture(scope="module")
def public_ca(dns_server: Any) -> Iterator[LocalCA]:
    with LocalCA(dns_server=dns_server.server, star=False,
                 profiles={"classic": 7776000, "short": SHORT}) as ca:
        yield ca


@pytest.fixture(scope="module")
def public_env(kubectl: Kubectl, crds: None, dns_server: Any, public_ca: LocalCA
               ) -> Iterator[StarEnv]:
    env = StarEnv(kubectl, dns_server, public_ca, suffix=f"e{uuid.uuid4().hex[:5]}",
                  profile="short")
    env.install()
    yield env
    env.uninstall()


def test_template_detects_profiles_and_ari(kubectl: Kubectl, public_env: StarEnv,
                                           operator_process) -> None:
    obj = wait_condition(kubectl, "csrtemplate", public_env.template, None, status="True",
                         reason="AccountRegistered")
    assert obj["status"]["capabilities"] == {
        "nativeStar": False, "profiles": ["classic", "short"], "ari": True,
        "mode": "Emulated", "summary": "Emulated+profiles+ARI"}


def test_unknown_profile_is_a_condition_not_a_longer_certificate(
        kubectl: Kubectl, public_env: StarEnv, operator_process, namespace: str) -> None:
    bad = f"bad-{public_env.suffix}"
    manifest = public_env.template_manifest(bad, ["*"])
    manifest["spec"]["acme"]["profile"] = "tiny"
    kubectl.apply(manifest)
    try:
        cond = wait_condition(kubectl, "csrtemplate", bad, None, status="False",
                              reason="InvalidProfile")["status"]["conditions"][0]
        assert "'tiny'" in cond["message"] and "classic, short" in cond["message"]
        host = f"bad-{namespace}.star.test"
        kubectl.apply(public_env.star_order("bad", namespace, [host], template=bad))
        wait_condition(kubectl, "starorder", "bad", namespace, status="False",
                       reason="InvalidProfile")
        assert ca_orders(public_env.ca, host) == []  # refused before any order
        assert warned(kubectl, namespace, "bad", "InvalidProfile")
    finally:
        kubectl.run("delete", "csrtemplate", bad, "--wait=false", check=False)


def _current(kubectl: Kubectl, env: StarEnv, ns: str, names: list[str]):
    tls = secret_tls(kubectl, ns, "web-tls")
    if tls is None:
        return None
    crt, key, ca = tls
    assert ca.decode() == env.root_pem
    return verify_certificate(crt, key, env.root_pem, expected_names=names), key


def test_ari_timed_series_of_three_then_revoked_on_delete(
        kubectl: Kubectl, public_env: StarEnv, operator_process, namespace: str) -> None:
    host = f"www-{namespace}.star.test"
    kubectl.apply(public_env.star_order("web", namespace, [host], lifetime=f"{SHORT}s",
                                        duration="1h"))
    wait_condition(kubectl, "starorder", "web", namespace, status="True", reason="Issued",
                   timeout=120)
    seen: list[tuple[Any, bytes, dict[str, Any]]] = []  # (certificate, key, series status)

    def three_certificates() -> bool:
        got = _current(kubectl, public_env, namespace, [host])  # every state is verified
        if got is None:
            return False
        cert, key = got
        if not seen or seen[-1][0].serial != cert.serial:
            series = get(kubectl, "starorder", "web", namespace)["status"]["series"]
            seen.append((cert, key, series))
        return len(seen) >= 3

    wait_for(three_certificates, 90, "three certificates of the series", interval=0.2)
    certs = [c for c, _, _ in seen]
    assert len({k for _, k, _ in seen}) == 3  # a new key per certificate
    for cert in certs:  # the profile's lifetime, not the CA's 90-day default
        assert (cert.not_after - cert.not_before).total_seconds() == pytest.approx(SHORT, abs=1)
    for older, newer in zip(certs, certs[1:]):
        # ordered inside the ARI window [2/3, 5/6] of the older one's life (+ issuance time)
        started = (newer.not_before - older.not_before).total_seconds()
        assert SHORT * 2 / 3 - 1 <= started <= SHORT * 5 / 6 + 3, started
        assert newer.not_before < older.not_after  # no gap: the edge never lacks a certificate
    order = get(kubectl, "starorder", "web", namespace)
    series = order["status"]["series"]
    assert series["renewBasis"] == "ARI" and series["window"]
    assert series["issuedLifetime"] == pytest.approx(SHORT, abs=1)
    renewed = [e for e in events(kubectl, namespace, "web") if e["reason"] == "Renewed"]
    assert renewed and "(ARI)" in renewed[-1]["message"]
    assert not warned(kubectl, namespace, "web", "LifetimeMismatch")
    # every renewal named the certificate it replaced (RFC 9773 replaces), as the CA recorded
    replaced = ca_replaced(public_env.ca, host)
    assert replaced[0] is None and len(replaced) >= 3
    assert [acme.cert_id(c.leaf) for c in certs[:2]] == replaced[1:3]

    kubectl.run("delete", "starorder", "web", "-n", namespace, "--timeout=60s")
    revoked = ca_revocations(public_env.ca)
    last = series["serial"]
    assert revoked[last] == 5  # cessationOfOperation
    count = len(ca_orders(public_env.ca, host))
    # the next renewal moment passes with the StarOrder gone: no order follows it
    due = timeutil.parse_time(series["renewAt"]) or datetime.datetime.now(datetime.timezone.utc)
    wait_for(lambda: datetime.datetime.now(datetime.timezone.utc) > due + datetime.timedelta(
        seconds=2), SHORT + 5, "the planned renewal moment to pass")
    assert len(ca_orders(public_env.ca, host)) == count

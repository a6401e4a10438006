"""An emulated STAR series against Debian's Pebble: a CA nobody here wrote, RFC 8555 only (no
STAR, no profiles, no ARI), with its default 5 % badNonce rejection, validating dns-01 against
the harness's BIND 9. What is checked is what a user would: the Secret, the Events, and the
revocation state Pebble itself reports."""
from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from op_env import (StarEnv, account_client, installed, events, get, scrape, secret_tls,
                    wait_condition)

from star_devenv.kubectl import Kubectl
from star_devenv.pebble import LocalPebble
from star_operator.verify import verify_certificate
from tests.waiting import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.dns]

ACME_COUNT = "star_operator_acme_request_duration_seconds_count"


@pytest.fixture(scope="module")
def pebble(dns_server: Any) -> Iterator[LocalPebble]:
    """This module's Pebble reuses every valid authorization, as public CAs do for weeks
    (its default is half of them), so a renewal can be seen to skip the challenges."""
    with LocalPebble(dns_server=dns_server.server, env={"PEBBLE_AUTHZREUSE": "100"}) as server:
        yield server


@pytest.fixture(scope="module")
def pebble_env(kubectl: Kubectl, crds: None, dns_server: Any, pebble: LocalPebble
               ) -> Iterator[StarEnv]:
    """CsrTemplates pointing at Pebble; the CA bundle holds its HTTPS and issuing roots."""
    with installed(StarEnv(kubectl, dns_server, pebble, suffix=f"p{uuid.uuid4().hex[:5]}",
                           trust_pem=pebble.trust_bundle_pem())) as env:
        yield env


def _serving(kubectl: Kubectl, env: StarEnv, ns: str, secret: str, names: list[str]
             ) -> tuple[str, bytes] | None:
    """(serial, key) of the Secret's certificate, verified against Pebble's roots and names."""
    tls = secret_tls(kubectl, ns, secret)
    if tls is None:
        return None
    crt, key, _ = tls
    return verify_certificate(crt, key, env.root_pem, expected_names=names).serial, key


def _orders_for(env: StarEnv, kubectl: Kubectl, name: str) -> int:
    """How many orders the template's account holds for ``name``, asked of Pebble over ACME."""
    async def count() -> int:
        async with account_client(kubectl, env) as client:
            await client.register(only_existing=True)
            orders = [await client.get_order(u) for u in await client.list_orders()]
        return sum(name in o.names for o in orders)
    return asyncio.run(count())


def test_template_reports_the_emulated_path(kubectl: Kubectl, pebble_env: StarEnv,
                                            operator_process) -> None:
    obj = wait_condition(kubectl, "csrtemplate", pebble_env.template, None, status="True",
                         reason="AccountRegistered")
    caps = obj["status"]["capabilities"]
    assert caps == {"nativeStar": False, "profiles": [], "ari": False, "mode": "Emulated",
                    "summary": "Emulated"}
    assert "emulated STAR series" in obj["status"]["conditions"][0]["message"]
    assert "autoRenewal" not in obj["status"]


def test_series_issues_renews_on_request_and_revokes_on_delete(
        kubectl: Kubectl, pebble_env: StarEnv, pebble: LocalPebble, operator_process,
        namespace: str) -> None:
    host = f"www-{namespace}.star.test"
    kubectl.apply(pebble_env.star_order("web", namespace, [host], lifetime="1h",
                                        duration="1d"))
    order = wait_condition(kubectl, "starorder", "web", namespace, status="True",
                           reason="Issued", timeout=120)
    status = order["status"]
    assert status["mode"] == "Emulated" and status["phase"] == "Valid"
    assert status["series"]["certificates"] == 1
    assert status["series"]["renewBasis"] == "Fraction"  # Pebble 2.4 has no ARI
    # Pebble issues 5-year certificates whatever the order asks: said, not hidden
    assert status["series"]["issuedLifetime"] > 365 * 86400
    assert "LifetimeMismatch" in {e["reason"] for e in events(kubectl, namespace, "web")}
    assert get(kubectl, "starcertificate", "web", namespace) is None  # no STAR URL to fetch
    first_serial, first_key = wait_for(
        lambda: _serving(kubectl, pebble_env, namespace, "web-tls", [host]), 30, "Secret")
    assert pebble.revocation_status(int(first_serial, 16)) == "Valid"

    before = scrape(operator_process.metrics_url)
    kubectl.run("annotate", "starorder", "web", "-n", namespace,
                "renew.star.operator.dev/requested-at=1")
    second = wait_for(lambda: (lambda s: s if s and s[0] != first_serial else None)(
        _serving(kubectl, pebble_env, namespace, "web-tls", [host])), 120,
        "a renewed certificate in web-tls")
    assert second[1] != first_key  # rotationPolicy Always: a new key with each certificate
    renewed = wait_for(lambda: (lambda o: o if o["status"]["series"].get("renewRequest") == "1"
                                else None)(get(kubectl, "starorder", "web", namespace)), 30,
                       "renewRequest recorded")
    series = renewed["status"]["series"]
    assert series["certificates"] == 2 and series["serial"] == second[0]
    # the 5-year default would outlive the StarOrder's end-date; Pebble honours an order's
    # notAfter, so this (last) certificate was shortened to end exactly then
    assert series["notAfter"] == renewed["status"]["endDate"]
    assert series["runsPastEndDate"] is False
    assert _orders_for(pebble_env, kubectl, host) == 2
    after = scrape(operator_process.metrics_url)
    steps = {a: after[(ACME_COUNT, frozenset({("action", a)}))]
             - before.get((ACME_COUNT, frozenset({("action", a)})), 0)
             for a in ("new-order", "dns-01", "finalize", "download")}
    # the valid authorization was reused: no challenge, no DNS update for the renewal
    assert steps == {"new-order": 1, "dns-01": 0, "finalize": 1, "download": 1}

    kubectl.run("delete", "starorder", "web", "-n", namespace, "--timeout=60s")
    # both unexpired certificates of the series end: Pebble says so itself
    assert pebble.revocation_status(int(second[0], 16)) == "Revoked (reason 5)"
    assert pebble.revocation_status(int(first_serial, 16)) == "Revoked (reason 5)"
    assert _orders_for(pebble_env, kubectl, host) == 2  # and no order followed the deletion
    assert secret_tls(kubectl, namespace, "web-tls") is not None  # secretPolicy Retain


def test_revoke_on_delete_false_keeps_the_certificate_valid(
        kubectl: Kubectl, pebble_env: StarEnv, pebble: LocalPebble, operator_process,
        namespace: str) -> None:
    host = f"keep-{namespace}.star.test"
    kubectl.apply(pebble_env.star_order("keep", namespace, [host], lifetime="1h",
                                        duration="1d", revokeOnDelete=False))
    wait_condition(kubectl, "starorder", "keep", namespace, status="True", reason="Issued",
                   timeout=120)
    serial, _ = wait_for(lambda: _serving(kubectl, pebble_env, namespace, "keep-tls", [host]),
                         30, "Secret")
    kubectl.run("delete", "starorder", "keep", "-n", namespace, "--timeout=60s")
    assert pebble.revocation_status(int(serial, 16)) == "Valid"
    ended = [e for e in events(kubectl, namespace, "keep") if e["reason"] == "SeriesEnded"]
    assert ended and "not revoked" in ended[0]["message"]

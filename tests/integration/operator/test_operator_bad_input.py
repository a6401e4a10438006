"""Bad DNO settings and broken dependencies: a specific Ready=False reason naming what to fix, a
Warning Event, retries with growing backoff and one log line each (no tracebacks), then
recovery once the cause is fixed, with exactly one order at the CA.

This module runs its own BIND 9 (``dns_server`` below) so that stopping it does not disturb
other modules; star-ca and the operator (module fixtures) resolve against it.
"""
from __future__ import annotations

import base64
import datetime
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from op_env import (OperatorProcess, StarEnv, ca_orders, log_records, ready, wait_condition,
                    warned)

from star_devenv.ca import LocalCA
from star_devenv.dns import LocalDNS
from star_devenv.kubectl import Kubectl
from star_devenv.processes import free_port
from tests.waiting import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.dns]


@pytest.fixture(scope="module")
def dns_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalDNS]:
    """A private BIND on a fixed port, so a stop/start keeps its address."""
    server = LocalDNS("star.test", port=free_port(), workdir=tmp_path_factory.mktemp("dns"))
    with server:
        yield server


@pytest.fixture(autouse=True)
def no_tracebacks(star_env: StarEnv, operator_process: OperatorProcess) -> Iterator[None]:
    """Expected failures are logged as one line each, never as a traceback.

    Requests ``star_env`` first so the operator stops before the CA and templates go (its
    teardown waits for the finalizers that cancel at the CA)."""
    yield
    assert "Traceback" not in operator_process.log()


def variant(env: StarEnv, name: str, *, ca_secret: str | None = None,
            tsig_secret: str | None = None) -> dict[str, Any]:
    """The module's template under another name, pointing at other Secrets."""
    manifest = env.template_manifest(name, ["*"])
    spec = manifest["spec"]
    if ca_secret:
        spec["acme"]["caBundleSecretRef"]["name"] = ca_secret
    if tsig_secret:
        spec["dns01"]["rfc2136"]["tsigSecretSecretRef"]["name"] = tsig_secret
    return manifest


def refused(kubectl: Kubectl, ns: str, name: str, reason: str, *needles: str) -> dict:
    """Wait for Ready=False ``reason`` whose message names every needle, plus its Event."""
    obj = wait_condition(kubectl, "starorder", name, ns, status="False", reason=reason,
                         timeout=60)
    message = ready(obj)["message"]
    assert all(n in message for n in needles), message
    wait_for(lambda: warned(kubectl, ns, name, reason), 30, f"Warning Event {reason}")
    return obj


def issued_once(kubectl: Kubectl, env: StarEnv, ns: str, name: str, host: str) -> None:
    """Recovered: Ready=True and exactly one order for ``host`` at the CA."""
    wait_condition(kubectl, "starorder", name, ns, status="True", reason="Issued", timeout=90)
    assert len(ca_orders(env.ca, host)) == 1


def remove(kubectl: Kubectl, ns: str, name: str, template: str) -> None:
    """StarOrder first (its finalizer cancels through the template), then the template."""
    kubectl.run("delete", "starorder", name, "-n", ns, "--timeout=60s")
    kubectl.run("delete", "csrtemplate", template, "--wait=false")


def attempt_times(operator: OperatorProcess, name: str) -> list[datetime.datetime]:
    return [datetime.datetime.fromisoformat(r["timestamp"])
            for r in log_records(operator, name, "failed temporarily")]


def test_garbage_ca_bundle_is_named_and_backs_off(
        kubectl: Kubectl, star_env: StarEnv, operator_process: OperatorProcess,
        namespace: str) -> None:
    template, bad = f"badca-{star_env.suffix}", f"ca-garbage-{star_env.suffix}"
    star_env.secret(bad, {"ca.crt": "this is not a certificate"})
    kubectl.apply(variant(star_env, template, ca_secret=bad))
    host = f"badca-{namespace}.star.test"
    kubectl.apply(star_env.star_order("badca", namespace, [host], template=template))
    where = f"star-operator/{bad}"
    refused(kubectl, namespace, "badca", "InvalidCABundle", where, "'ca.crt'")
    tpl = wait_condition(kubectl, "csrtemplate", template, None, status="False",
                         reason="InvalidCABundle")
    assert where in ready(tpl)["message"]
    # retries continue, each one log line, further and further apart (0.5 s doubling here)
    times = wait_for(lambda: (t := attempt_times(operator_process, "badca")) and len(t) >= 4
                     and t, 30, "four attempts")
    gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:])]
    assert gaps[2] > 1.5 * gaps[0], gaps
    star_env.secret(bad, {"ca.crt": star_env.root_pem})  # fixed
    issued_once(kubectl, star_env, namespace, "badca", host)
    wait_condition(kubectl, "csrtemplate", template, None, status="True",
                   reason="AccountRegistered")
    remove(kubectl, namespace, "badca", template)


def test_missing_tsig_secret_then_created(
        kubectl: Kubectl, star_env: StarEnv, dns_server: LocalDNS, operator_process,
        namespace: str) -> None:
    template, tsig = f"notsig-{star_env.suffix}", f"tsig-missing-{star_env.suffix}"
    kubectl.apply(variant(star_env, template, tsig_secret=tsig))
    host = f"notsig-{namespace}.star.test"
    kubectl.apply(star_env.star_order("notsig", namespace, [host], template=template))
    refused(kubectl, namespace, "notsig", "SecretMissing", "TSIG key",
            f"star-operator/{tsig} not found")
    assert ca_orders(star_env.ca, host) == []  # nothing placed without a way to answer dns-01
    star_env.secret(tsig, {"secret": dns_server.tsig_secret})
    issued_once(kubectl, star_env, namespace, "notsig", host)
    remove(kubectl, namespace, "notsig", template)


def test_wrong_tsig_key_is_a_refused_dns_update(
        kubectl: Kubectl, star_env: StarEnv, dns_server: LocalDNS, operator_process,
        namespace: str) -> None:
    template, tsig = f"badtsig-{star_env.suffix}", f"tsig-wrong-{star_env.suffix}"
    star_env.secret(tsig, {"secret": base64.b64encode(secrets.token_bytes(32)).decode()})
    kubectl.apply(variant(star_env, template, tsig_secret=tsig))
    host = f"badtsig-{namespace}.star.test"
    kubectl.apply(star_env.star_order("badtsig", namespace, [host], template=template))
    refused(kubectl, namespace, "badtsig", "DNSUpdateRefused", dns_server.server,
            dns_server.tsig_key_name)
    star_env.secret(tsig, {"secret": dns_server.tsig_secret})
    issued_once(kubectl, star_env, namespace, "badtsig", host)  # the same order, continued
    remove(kubectl, namespace, "badtsig", template)


def order_during_outage(kubectl: Kubectl, env: StarEnv, ns: str, name: str,
                        outage: tuple[Callable[[], Any], Callable[[], Any]],
                        reason: str, needle: str) -> None:
    """Apply a StarOrder while a dependency is down (``outage`` = stop, start): the condition
    names the dependency; once it is back the order is issued, with one order at the CA."""
    host = f"{name}-{ns}.star.test"
    stop, start = outage
    stop()
    try:
        kubectl.apply(env.star_order(name, ns, [host]))
        refused(kubectl, ns, name, reason, needle)
    finally:
        start()
    issued_once(kubectl, env, ns, name, host)


def test_dns_server_down_during_dns01(kubectl: Kubectl, star_env: StarEnv,
                                     dns_server: LocalDNS, operator_process,
                                     namespace: str) -> None:
    order_during_outage(kubectl, star_env, namespace, "dnsdown",
                        (dns_server.stop, dns_server.start), "DNSServerUnreachable",
                        dns_server.server)


def test_ca_down_while_placing_the_order(kubectl: Kubectl, star_env: StarEnv,
                                         star_ca: LocalCA, operator_process,
                                         namespace: str) -> None:
    wait_condition(kubectl, "csrtemplate", star_env.template, None, status="True")
    order_during_outage(kubectl, star_env, namespace, "cadown", (star_ca.kill, star_ca.start),
                        "CAUnreachable", star_ca.base_url)

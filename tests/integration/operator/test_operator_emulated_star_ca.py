"""An emulated STAR series against star-ca playing a public CA: STAR off, ACME profiles with
seconds-long validity, ARI windows. The operator must time every renewal by the CA's window,
name the certificate it replaces, verify and install each one, and revoke on deletion."""
from __future__ import annotations

import asyncio
import datetime
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from op_env import public_ca as public_ca_process
from op_env import (StarEnv, account_client, ca_orders, ca_replaced, ca_revocations, events, get,
                    scrape, secret_tls, warned, wait_condition)

from star_devenv.ca import LocalCA
from star_devenv.kubectl import Kubectl
from star_operator import acme, pem, timeutil
from star_operator.verify import verify_certificate
from tests.waiting import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.dns]

SHORT = 10  # seconds: the "short" profile's certificate validity
MEDIUM = 30  # seconds: the "medium" profile's (ARI Retry-After 3 s, window 20-25 s)


@pytest.fixture(scope="module")
def public_ca(dns_server: Any) -> Iterator[LocalCA]:
    with public_ca_process(dns_server, {"short": SHORT, "medium": MEDIUM}) as ca:
        yield ca


@pytest.fixture(scope="module")
def public_env(kubectl: Kubectl, crds: None, dns_server: Any, public_ca: LocalCA
               ) -> Iterator[StarEnv]:
    env = StarEnv(kubectl, dns_server, public_ca, suffix=f"e{uuid.uuid4().hex[:5]}",
                  profile="short")
    env.medium = f"medium-{env.suffix}"  # a second template, same account, 30 s profile
    env.install()
    kubectl.apply(_with_profile(env, env.medium, "medium"))
    yield env
    kubectl.run("delete", "csrtemplate", env.medium, "--wait=false", check=False)
    env.uninstall()


def _with_profile(env: StarEnv, name: str, profile: str) -> dict[str, Any]:
    manifest = env.template_manifest(name, ["*"])
    manifest["spec"]["acme"]["profile"] = profile
    return manifest


def test_template_detects_profiles_and_ari(kubectl: Kubectl, public_env: StarEnv,
                                           operator_process) -> None:
    obj = wait_condition(kubectl, "csrtemplate", public_env.template, None, status="True",
                         reason="AccountRegistered")
    assert obj["status"]["capabilities"] == {
        "nativeStar": False, "profiles": ["classic", "medium", "short"], "ari": True,
        "mode": "Emulated", "summary": "Emulated+profiles+ARI"}


def test_unknown_profile_is_a_condition_not_a_longer_certificate(
        kubectl: Kubectl, public_env: StarEnv, operator_process, namespace: str) -> None:
    bad = f"bad-{public_env.suffix}"
    kubectl.apply(_with_profile(public_env, bad, "tiny"))
    try:
        cond = wait_condition(kubectl, "csrtemplate", bad, None, status="False",
                              reason="InvalidProfile")["status"]["conditions"][0]
        assert "'tiny'" in cond["message"] and "classic, medium, short" in cond["message"]
        host = f"bad-{namespace}.star.test"
        kubectl.apply(public_env.star_order("bad", namespace, [host], template=bad))
        wait_condition(kubectl, "starorder", "bad", namespace, status="False",
                       reason="InvalidProfile")
        assert ca_orders(public_env.ca, host) == []  # refused before any order
        assert warned(kubectl, namespace, "bad", "InvalidProfile")
    finally:
        kubectl.run("delete", "csrtemplate", bad, "--wait=false", check=False)


def _current(kubectl: Kubectl, env: StarEnv, ns: str, names: list[str], secret: str = "web-tls"):
    """(verified certificate, key) the Secret holds now, checked against the CA and names."""
    tls = secret_tls(kubectl, ns, secret)
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
    metrics = scrape(operator_process.metrics_url)
    labels = frozenset({"namespace": namespace, "name": "web"}.items())
    assert metrics[("star_operator_series_renewals_total", labels)] >= 2
    assert metrics[("star_operator_series_renewal_lag_seconds_count", frozenset())] >= 2
    expires = metrics[("star_operator_certificate_expiration_timestamp_seconds", labels)]
    assert expires >= timeutil.parse_time(series["notAfter"]).timestamp()  # time left: a metric
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


def _issued(kubectl: Kubectl, env: StarEnv, ns: str, name: str, host: str, **spec: Any):
    kubectl.apply(env.star_order(name, ns, [host], **spec))
    wait_condition(kubectl, "starorder", name, ns, status="True", reason="Issued", timeout=120)
    return wait_for(lambda: _current(kubectl, env, ns, [host], f"{name}-tls"), 30, "Secret")


def _renewed(kubectl: Kubectl, env: StarEnv, ns: str, name: str, host: str, serial: str,
             timeout: float = 60):
    """The next certificate the Secret holds after ``serial``."""
    return wait_for(lambda: (lambda got: got if got and got[0].serial != serial else None)(
        _current(kubectl, env, ns, [host], f"{name}-tls")), timeout, f"{name}: a renewal")


def test_rotation_policy_never_keeps_the_key(kubectl: Kubectl, public_env: StarEnv,
                                             operator_process, namespace: str) -> None:
    host = f"never-{namespace}.star.test"
    first, key = _issued(kubectl, public_env, namespace, "never", host,
                         lifetime=f"{SHORT}s", rotationPolicy="Never")
    second, key2 = _renewed(kubectl, public_env, namespace, "never", host, first.serial)
    third, key3 = _renewed(kubectl, public_env, namespace, "never", host, second.serial)
    assert key == key2 == key3


def test_rotation_policy_switched_to_never_keeps_the_key_the_secret_holds(
        kubectl: Kubectl, public_env: StarEnv, operator_process, namespace: str) -> None:
    """Never after Always reuses the current key (not the first one, which is gone)."""
    host = f"switch-{namespace}.star.test"
    first, key = _issued(kubectl, public_env, namespace, "switch", host, lifetime=f"{SHORT}s")
    second, key2 = _renewed(kubectl, public_env, namespace, "switch", host, first.serial)
    assert key2 != key
    kubectl.run("patch", "starorder", "switch", "-n", namespace, "--type=merge",
                "-p", '{"spec":{"rotationPolicy":"Never"}}')
    keys, serial = [], second.serial
    for _ in range(3):  # a renewal already under way may still bring a new key, then no more
        cert, k = _renewed(kubectl, public_env, namespace, "switch", host, serial)
        keys.append(k)
        serial = cert.serial
    assert keys[1] == keys[2]
    assert not get(kubectl, "starorder", "switch", namespace)["status"]["series"].get(
        "failures")


def test_series_ends_at_the_end_date_and_says_the_last_runs_past_it(
        kubectl: Kubectl, public_env: StarEnv, operator_process, namespace: str) -> None:
    """The end-date is two lifetimes out, so how many certificates fit depends on how long the
    first issuance took: the test asserts what must hold whatever that number is."""
    host = f"end-{namespace}.star.test"
    first, _ = _issued(kubectl, public_env, namespace, "end", host, lifetime=f"{SHORT}s",
                       duration=f"{2 * SHORT}s")
    end = timeutil.parse_time(get(kubectl, "starorder", "end", namespace)["status"]["endDate"])
    assert first.not_after < end  # so at least one successor is due
    final = wait_for(lambda: (lambda o: o if o["status"]["series"].get("final") else None)(
        get(kubectl, "starorder", "end", namespace)), 3 * SHORT, "the series to end")
    series = final["status"]["series"]
    last, _ = wait_for(lambda: (lambda got: got if got and got[0].serial == series["serial"]
                                else None)(_current(kubectl, public_env, namespace, [host],
                                                    "end-tls")), 10, "the last certificate")
    assert series["certificates"] >= 2 and last.serial != first.serial
    assert "renewAt" not in series and last.not_before < end
    # star-ca, like Let's Encrypt, refuses notAfter in orders: the CA cannot shorten the last
    # certificate, so it runs past the end-date and the status says so
    assert series["runsPastEndDate"] is True and last.not_after > end
    assert "runs past the end-date" in ready_message(kubectl, namespace, "end")
    count = len(ca_orders(public_env.ca, host))
    assert count == series["certificates"]  # one CA order per certificate, none retried
    wait_for(lambda: timeutil.utcnow() > last.not_after, SHORT + 5,
             "the last certificate to expire")
    assert len(ca_orders(public_env.ca, host)) == count  # nothing ordered past the end-date


def ready_message(kubectl: Kubectl, ns: str, name: str) -> str:
    conds = get(kubectl, "starorder", name, ns)["status"]["conditions"]
    return next(c["message"] for c in conds if c["type"] == "Ready")


def test_spec_canceled_ends_the_series_and_revokes(
        kubectl: Kubectl, public_env: StarEnv, operator_process, namespace: str) -> None:
    host = f"stop-{namespace}.star.test"
    first, _ = _issued(kubectl, public_env, namespace, "stop", host, lifetime=f"{MEDIUM}s",
                       csrTemplateName=public_env.medium)
    kubectl.run("patch", "starorder", "stop", "-n", namespace, "--type=merge",
                "-p", '{"spec":{"canceled":true}}')
    order = wait_condition(kubectl, "starorder", "stop", namespace, status="False",
                           reason="Canceled", timeout=60)
    assert order["status"]["phase"] == "Canceled"
    assert ca_revocations(public_env.ca)[first.serial] == 5
    orders = len(ca_orders(public_env.ca, host))
    kubectl.run("annotate", "starorder", "stop", "-n", namespace,
                "renew.star.operator.dev/requested-at=after-cancel")
    assert wait_for(lambda: warned(kubectl, namespace, "stop", "RenewRefused") or
                    len(ca_orders(public_env.ca, host)) > orders or
                    (timeutil.utcnow() - first.not_before).total_seconds() > MEDIUM * 5 / 6,
                    MEDIUM, "the planned renewal moment (or a forbidden order)")
    assert len(ca_orders(public_env.ca, host)) == orders  # nothing ordered after cancel
    assert _current(kubectl, public_env, namespace, [host], "stop-tls")  # Secret kept


def _as_the_account(kubectl: Kubectl, env: StarEnv,
                    action: Callable[[acme.AcmeClient], Awaitable[Any]]) -> Any:
    """Act at the CA with the medium template's account, as the operator itself could."""
    async def run() -> Any:
        async with account_client(kubectl, env, env.medium) as client:
            await client.register(only_existing=True)
            return await action(client)
    return asyncio.run(run())


def test_already_replaced_is_ordered_again_without_replaces(
        kubectl: Kubectl, public_env: StarEnv, operator_process, namespace: str) -> None:
    """Another order of the account took the ``replaces`` slot of the current certificate (as
    an earlier attempt whose answer was lost would have): renew anyway, no loop."""
    host = f"taken-{namespace}.star.test"
    first, _ = _issued(kubectl, public_env, namespace, "taken", host, lifetime=f"{MEDIUM}s",
                       csrTemplateName=public_env.medium)

    _as_the_account(kubectl, public_env, lambda client: client.new_order(
        [host], profile="medium", replaces=acme.cert_id(first.leaf)))
    kubectl.run("annotate", "starorder", "taken", "-n", namespace,
                "renew.star.operator.dev/requested-at=now")
    _renewed(kubectl, public_env, namespace, "taken", host, first.serial, timeout=30)
    # orders for the name: the operator's first, the slot-taker (replaces), the renewal (none)
    assert ca_replaced(public_env.ca, host) == [None, acme.cert_id(first.leaf), None]


def test_a_revoked_certificate_is_replaced_at_once_through_ari(
        kubectl: Kubectl, public_env: StarEnv, operator_process, namespace: str) -> None:
    """The CA moves the window into the past when it revokes (RFC 9773 §4.2): the operator,
    re-asking at the CA's Retry-After (3 s here), orders a replacement long before the 20 s
    the original window said."""
    host = f"revoked-{namespace}.star.test"
    first, _ = _issued(kubectl, public_env, namespace, "revoked", host, lifetime=f"{MEDIUM}s",
                       csrTemplateName=public_env.medium)

    _as_the_account(kubectl, public_env, lambda client: client.revoke(
        pem.dump_chain([first.leaf]).decode(), reason=1))
    second, _ = _renewed(kubectl, public_env, namespace, "revoked", host, first.serial,
                         timeout=15)
    assert (second.not_before - first.not_before).total_seconds() < MEDIUM * 2 / 3 - 5
    assert "RenewalWindowChanged" in {e["reason"] for e in events(kubectl, namespace,
                                                                  "revoked")}


def test_revocation_waits_for_the_ca_and_then_completes(
        kubectl: Kubectl, public_env: StarEnv, public_ca: LocalCA, operator_process,
        namespace: str) -> None:
    """The finalizer holds while the CA is down (RevokeFailed, retried), and lets go once the
    CA confirmed the revocation. Last in the module: it restarts the CA."""
    host = f"down-{namespace}.star.test"
    first, _ = _issued(kubectl, public_env, namespace, "down", host, lifetime=f"{MEDIUM}s",
                       csrTemplateName=public_env.medium)
    public_ca.kill()
    try:
        kubectl.run("delete", "starorder", "down", "-n", namespace, "--wait=false")
        wait_condition(kubectl, "starorder", "down", namespace, status="False",
                       reason="RevokeFailed", timeout=60)
        assert get(kubectl, "starorder", "down", namespace) is not None  # finalizer holds
    finally:
        public_ca.start()
    wait_for(lambda: get(kubectl, "starorder", "down", namespace) is None, 60,
             "the StarOrder to go once the CA is back")
    assert ca_revocations(public_ca)[first.serial] == 5

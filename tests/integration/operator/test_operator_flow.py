"""The operator end to end: real control plane, real star-ca, real BIND 9, the operator as a
subprocess. Every wait is on an observable condition with a deadline."""
from __future__ import annotations

import asyncio
import datetime
import re

import pytest
from op_env import (StarEnv, ca_orders, events, get, ready, scrape, secret_tls, wait_condition)

from star_devenv.kubectl import Kubectl
from star_operator import acme, pem
from star_operator.verify import verify_certificate
from tests.waiting import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.dns]


def unique_host(ns: str, label: str = "www") -> str:
    return f"{label}-{ns}.star.test"


def assert_matching(crt: bytes, key: bytes, root: str, names: list[str]) -> str:
    return verify_certificate(crt, key, root, expected_names=names).serial


def issued_with_key(kubectl: Kubectl, env: StarEnv, ns: str,
                    order_name: str) -> tuple[str, dict, bytes]:
    """A StarOrder with a 3 s lifetime, issued: (its name, the object, the key PEM)."""
    name = unique_host(ns, order_name)
    kubectl.apply(env.star_order(order_name, ns, [name], lifetime="3s"))
    order = wait_condition(kubectl, "starorder", order_name, ns, status="True", timeout=120)
    _, key, _ = wait_for(lambda: secret_tls(kubectl, ns, f"{order_name}-tls"), 60,
                         "certificate")
    return name, order, key


def test_csr_template_ready_and_account_registered(kubectl: Kubectl, star_env: StarEnv,
                                                    operator_process) -> None:
    obj = wait_condition(kubectl, "csrtemplate", star_env.template, None, status="True",
                         reason="AccountRegistered")
    assert obj["status"]["accountURL"].startswith(star_env.ca.base_url)
    assert obj["status"]["autoRenewal"]["minLifetime"] == 1
    assert get(kubectl, "secret", f"acct-{star_env.template}", "star-operator")


def test_order_issues_and_rotates_with_matching_key(kubectl: Kubectl, star_env: StarEnv,
                                                    operator_process, namespace: str) -> None:
    names = [unique_host(namespace), unique_host(namespace, "cdn")]
    kubectl.apply(star_env.star_order("web", namespace, names, lifetime="3s"))
    order = wait_condition(kubectl, "starorder", "web", namespace, status="True",
                           reason="Issued", timeout=120)
    status = order["status"]
    assert status["phase"] == "Valid" and status["orderURL"] and status["starCertificateURL"]
    assert get(kubectl, "starcertificate", "web", namespace)["metadata"]["ownerReferences"][0][
        "name"] == "web"
    # kopf's diff base of a StarOrder is kept in the operator (star_operator.persistence)
    assert not any(k.endswith("/last-handled-configuration")
                   for k in (order["metadata"].get("annotations") or {}))
    serials: list[str] = []

    def rotated_three_times() -> bool:
        tls = secret_tls(kubectl, namespace, "web-tls")
        if tls is None:
            return False
        crt, key, ca = tls
        assert ca.decode() == star_env.root_pem
        serial = assert_matching(crt, key, star_env.root_pem, names)  # every observed state
        if not serials or serials[-1] != serial:
            serials.append(serial)
        return len(serials) >= 4

    wait_for(rotated_three_times, 120, "three rotations of web-tls", interval=0.3)
    secret = get(kubectl, "secret", "web-tls", namespace)
    assert secret["type"] == "kubernetes.io/tls"
    ann = secret["metadata"]["annotations"]
    assert ann["cert-manager.io/certificate-name"] == "web"
    assert ann["cert-manager.io/issuer-name"] == star_env.template
    assert sorted(ann["cert-manager.io/alt-names"].split(",")) == sorted(names)
    assert "staged-tls.key" not in secret["data"]
    cert = wait_for(lambda: (c := get(kubectl, "starcertificate", "web", namespace))
                    and c["status"].get("rotations", 0) >= 3 and c, 30, "rotations in status")
    assert cert["status"]["state"] == "Current" and cert["status"]["nextFetch"]
    # the first certificate is the StarOrder's Issued Event; the StarCertificate's Rotated
    # Events start after it (at most one per 10 minutes: none within this test)
    kinds = {(e["involvedObject"]["kind"], e["reason"]) for e in events(kubectl, namespace, "web")}
    assert ("StarOrder", "Issued") in kinds and ("StarOrder", "OrderValid") not in kinds
    assert len(ca_orders(star_env.ca, names[0])) == 1


def test_csr_outside_template_is_refused_without_ca_order(
        kubectl: Kubectl, star_env: StarEnv, operator_process, namespace: str) -> None:
    outside = f"www-{namespace}.example.org"
    kubectl.apply(star_env.star_order("bad", namespace, [outside]))
    order = wait_condition(kubectl, "starorder", "bad", namespace, status="False",
                           reason="TemplateViolation")
    assert outside in ready(order)["message"]
    assert "extensions.subjectAltName.DNS" in ready(order)["message"]
    assert order["status"]["violations"]
    wait_for(lambda: any(e["type"] == "Warning" and e["reason"] == "TemplateViolation"
                         for e in events(kubectl, namespace, "bad")), 30, "Warning Event")
    assert ca_orders(star_env.ca, outside) == []
    assert get(kubectl, "secret", "bad-tls", namespace) is None  # no key was even made


def test_forbidden_namespace_is_refused_without_ca_order(
        kubectl: Kubectl, star_env: StarEnv, operator_process, namespace: str) -> None:
    name = unique_host(namespace)
    kubectl.apply(star_env.star_order("nope", namespace, [name], template=star_env.restricted))
    order = wait_condition(kubectl, "starorder", "nope", namespace, status="False",
                           reason="NamespaceNotAllowed")
    assert namespace in ready(order)["message"]
    assert any(e["reason"] == "NamespaceNotAllowed" for e in events(kubectl, namespace, "nope"))
    assert ca_orders(star_env.ca, name) == []


def test_delete_cancels_at_the_ca_and_secret_is_kept(
        kubectl: Kubectl, star_env: StarEnv, operator_process, namespace: str) -> None:
    name = unique_host(namespace)
    kubectl.apply(star_env.star_order("gone", namespace, [name], lifetime="3s"))
    order = wait_condition(kubectl, "starorder", "gone", namespace, status="True", timeout=120)
    url = order["status"]["starCertificateURL"]
    wait_for(lambda: secret_tls(kubectl, namespace, "gone-tls"), 60, "first certificate")
    kubectl.run("delete", "starorder", "gone", "-n", namespace, "--timeout=60s")
    assert [s for _, s in ca_orders(star_env.ca, name)] == ["canceled"]
    with pytest.raises(acme.AcmeProblem) as problem:
        asyncio.run(acme.fetch_star_certificate(None, url, star_env.root_pem))
    assert problem.value.status == 403 and problem.value.short_type == "autoRenewalCanceled"
    last = secret_tls(kubectl, namespace, "gone-tls")
    assert last is not None  # secretPolicy Retain (default)
    not_after = pem.load_chain(last[0])[0].not_valid_after_utc
    wait_for(lambda: datetime.datetime.now(datetime.timezone.utc) > not_after, 30,
             "the last certificate's expiry")
    assert secret_tls(kubectl, namespace, "gone-tls") == last  # nothing rotated after cancel


def test_spec_canceled_ends_the_delegation_and_keeps_the_objects(
        kubectl: Kubectl, star_env: StarEnv, operator_process, namespace: str) -> None:
    """``spec.canceled: true`` cancels at the CA like a deletion, but the StarOrder, its
    StarCertificate and the Secret stay, and say so."""
    name = unique_host(namespace, "kept")
    kubectl.apply(star_env.star_order("kept", namespace, [name], lifetime="3s"))
    order = wait_condition(kubectl, "starorder", "kept", namespace, status="True", timeout=120)
    url = order["status"]["starCertificateURL"]
    wait_for(lambda: secret_tls(kubectl, namespace, "kept-tls"), 60, "first certificate")
    kubectl.run("patch", "starorder", "kept", "-n", namespace, "--type=merge",
                "-p", '{"spec":{"canceled":true}}')
    canceled = wait_condition(kubectl, "starorder", "kept", namespace, status="False",
                              reason="Canceled", timeout=60)
    assert canceled["status"]["phase"] == "Canceled"
    assert [s for _, s in ca_orders(star_env.ca, name)] == ["canceled"]
    with pytest.raises(acme.AcmeProblem) as problem:
        asyncio.run(acme.fetch_star_certificate(None, url, star_env.root_pem))
    assert problem.value.short_type == "autoRenewalCanceled"
    wait_condition(kubectl, "starcertificate", "kept", namespace, status="False",
                   reason="Canceled", timeout=60)
    assert secret_tls(kubectl, namespace, "kept-tls") is not None
    kubectl.run("delete", "starorder", "kept", "-n", namespace, "--timeout=60s")  # no CA step


def test_template_deleted_first_still_cancels_with_the_recorded_account(
        kubectl: Kubectl, star_env: StarEnv, operator_process, namespace: str) -> None:
    """The DNO deletes the CsrTemplate while a StarOrder runs: deleting the StarOrder must still
    cancel the order at the CA (with the account recorded in status.caAccess), not hang until
    force-delete and leave the CA issuing."""
    template = f"gone-first-{star_env.suffix}"
    kubectl.apply(star_env.template_manifest(template, ["*"]))
    name = unique_host(namespace, "orphaned")
    kubectl.apply(star_env.star_order("orphaned", namespace, [name], lifetime="3s",
                                      template=template))
    order = wait_condition(kubectl, "starorder", "orphaned", namespace, status="True",
                           timeout=120)
    access = order["status"]["caAccess"]
    assert access["directoryURL"] == star_env.ca.directory_url
    assert access["accountKeySecretRef"]["name"] == f"acct-{template}"
    assert access["caBundleSecretRef"]["name"] == f"ca-{star_env.suffix}"
    kubectl.run("delete", "csrtemplate", template, "--timeout=30s")
    assert [s for _, s in ca_orders(star_env.ca, name)] == ["valid"]  # still issuing
    kubectl.run("delete", "starorder", "orphaned", "-n", namespace, "--timeout=60s")
    assert [s for _, s in ca_orders(star_env.ca, name)] == ["canceled"]
    with pytest.raises(acme.AcmeProblem) as problem:
        asyncio.run(acme.fetch_star_certificate(None, order["status"]["starCertificateURL"],
                                                star_env.root_pem))
    assert problem.value.short_type == "autoRenewalCanceled"


def test_secret_policy_delete_removes_the_secret(
        kubectl: Kubectl, star_env: StarEnv, operator_process, namespace: str) -> None:
    name = unique_host(namespace)
    kubectl.apply(star_env.star_order("tmp", namespace, [name], secretPolicy="Delete"))
    wait_condition(kubectl, "starorder", "tmp", namespace, status="True", timeout=120)
    kubectl.run("delete", "starorder", "tmp", "-n", namespace, "--timeout=60s")
    assert get(kubectl, "secret", "tmp-tls", namespace) is None


def test_standalone_star_certificate_keeps_a_secret_current(
        kubectl: Kubectl, star_env: StarEnv, operator_process, namespace: str) -> None:
    name, order, key = issued_with_key(kubectl, star_env, namespace, "src")
    # A "CDN" namespace holding only the key, the URL and the CA root.
    cdn = f"{namespace}-cdn"
    kubectl.run("create", "namespace", cdn)
    star_env.secret("edge-key", {"tls.key": key.decode()}, ns=cdn)
    kubectl.apply({"apiVersion": "star.operator.dev/v1alpha1", "kind": "StarCertificate",
                   "metadata": {"name": "edge", "namespace": cdn},
                   "spec": {"starCertificateURL": order["status"]["starCertificateURL"],
                            "secretName": "edge-tls",
                            "privateKeySecretRef": {"name": "edge-key"},
                            "caBundle": star_env.root_pem, "dnsNames": [name]}})
    serials: set[str] = set()

    def two_certificates() -> bool:
        tls = secret_tls(kubectl, cdn, "edge-tls")
        if tls:
            serials.add(assert_matching(tls[0], tls[1], star_env.root_pem, [name]))
        return len(serials) >= 2

    wait_for(two_certificates, 90, "edge-tls to be renewed", interval=0.3)
    wait_condition(kubectl, "starcertificate", "edge", cdn, status="True")
    # no StarOrder announces a standalone StarCertificate's first certificate: its own Rotated
    wait_for(lambda: any(e["reason"] == "Rotated" for e in events(kubectl, cdn, "edge")), 30,
             "edge's Rotated Event")
    # The DNO revokes the delegation: the CDN side notices and stops polling.
    kubectl.run("delete", "starorder", "src", "-n", namespace, "--timeout=60s")
    edge = wait_condition(kubectl, "starcertificate", "edge", cdn, status="False",
                          reason="Canceled", timeout=60)
    assert edge["status"]["state"] == "Canceled" and not edge["status"].get("nextFetch")
    assert secret_tls(kubectl, cdn, "edge-tls") is not None  # last certificate stays


def test_immutable_spec_change_is_refused_and_order_continues(
        kubectl: Kubectl, star_env: StarEnv, operator_process, namespace: str) -> None:
    name = unique_host(namespace)
    kubectl.apply(star_env.star_order("fixed", namespace, [name]))
    order = wait_condition(kubectl, "starorder", "fixed", namespace, status="True", timeout=120)
    other = unique_host(namespace, "other")
    kubectl.run("patch", "starorder", "fixed", "-n", namespace, "--type=merge", "-p",
                f'{{"spec": {{"dnsNames": ["{other}"]}}}}')
    refused = wait_condition(kubectl, "starorder", "fixed", namespace, status="False",
                             reason="ImmutableFieldChanged")
    assert "spec.dnsNames" in ready(refused)["message"]
    assert refused["status"]["orderURL"] == order["status"]["orderURL"]
    assert ca_orders(star_env.ca, other) == [] and len(ca_orders(star_env.ca, name)) == 1
    kubectl.run("patch", "starorder", "fixed", "-n", namespace, "--type=merge", "-p",
                f'{{"spec": {{"dnsNames": ["{name}"]}}}}')
    wait_condition(kubectl, "starorder", "fixed", namespace, status="True", reason="Issued")


def test_wrong_ca_bundle_keeps_current_certificate(
        kubectl: Kubectl, star_env: StarEnv, operator_process, namespace: str) -> None:
    """A StarCertificate whose CA bundle does not match never writes an unverified chain."""
    _, order, key = issued_with_key(kubectl, star_env, namespace, "src2")
    from op_pki_other import other_root_pem
    star_env.secret("k", {"tls.key": key.decode()}, ns=namespace)
    kubectl.apply({"apiVersion": "star.operator.dev/v1alpha1", "kind": "StarCertificate",
                   "metadata": {"name": "untrusted", "namespace": namespace},
                   "spec": {"starCertificateURL": order["status"]["starCertificateURL"],
                            "secretName": "untrusted-tls", "privateKeySecretRef": {"name": "k"},
                            "caBundle": other_root_pem()}})
    obj = wait_condition(kubectl, "starcertificate", "untrusted", namespace, status="False")
    assert obj["status"]["failures"] >= 1
    assert get(kubectl, "secret", "untrusted-tls", namespace) is None


def test_restart_mid_issuance_places_exactly_one_order(
        kubectl: Kubectl, star_env: StarEnv, operator_process, namespace: str) -> None:
    """dns-01 fails (wrong TSIG) after the order is placed; the operator is killed there,
    the TSIG fixed, the operator restarted: the recorded order is continued, not re-placed."""
    name = unique_host(namespace)
    star_env.set_tsig("d3JvbmctdHNpZy1zZWNyZXQtZm9yLXRlc3RzLW9ubHkhISE=")
    try:
        # A running operator may use the key it read up to 2 s ago (secrets.read_cache: the
        # previous test's cancellation read it); a fresh process reads the wrong one first.
        operator_process.kill()
        operator_process.start()
        kubectl.apply(star_env.star_order("resume", namespace, [name]))
        order = wait_condition(kubectl, "starorder", "resume", namespace, status="False",
                               reason="DNSUpdateRefused", timeout=120)
        order_url = order["status"]["orderURL"]
        assert order_url and len(ca_orders(star_env.ca, name)) == 1
        operator_process.kill()
    finally:
        star_env.set_tsig(star_env.dns.tsig_secret)
    operator_process.start()
    order = wait_condition(kubectl, "starorder", "resume", namespace, status="True",
                           reason="Issued", timeout=120)
    assert order["status"]["orderURL"] == order_url
    assert len(ca_orders(star_env.ca, name)) == 1
    tls = wait_for(lambda: secret_tls(kubectl, namespace, "resume-tls"), 60, "certificate")
    assert_matching(tls[0], tls[1], star_env.root_pem, [name])


def test_metrics_follow_a_renewing_order(kubectl: Kubectl, star_env: StarEnv,
                                         operator_process, namespace: str) -> None:
    host = unique_host(namespace, "metered")
    kubectl.apply(star_env.star_order("metered", namespace, [host], lifetime="3s"))
    wait_condition(kubectl, "starorder", "metered", namespace, status="True", reason="Issued",
                   timeout=120)
    cert = frozenset({"namespace": namespace, "name": "metered"}.items())
    rotations = ("star_operator_certificate_rotations_total", cert)
    not_after = ("star_operator_certificate_not_after_timestamp_seconds", cert)
    expiry = ("star_operator_certificate_expiration_timestamp_seconds", cert)
    valid = ("star_operator_order_state", cert | {("phase", "Valid")})
    first = wait_for(lambda: (m := scrape(operator_process.metrics_url)).get(rotations)
                     and m, 30, "a rotation in the metrics")
    assert first[valid] == 1
    assert first[expiry] == first[not_after] > datetime.datetime.now().timestamp() - 10
    later = wait_for(lambda: (m := scrape(operator_process.metrics_url))[rotations]
                     > first[rotations] and m, 30, "the rotations counter to increase")
    assert later[not_after] > first[not_after]  # the renewed certificate expires later
    wait_for(lambda: get(kubectl, "starcertificate", "metered", namespace)["status"].get(
        "rotations", 0) >= later[rotations], 10, "status to agree with the counter")


def _table_cells(out: str) -> dict[str, str]:
    """The one row of ``kubectl get``'s table by column, cut at the header's column starts
    (an empty cell leaves no token of its own, so splitting on spaces would shift the rest)."""
    header, row = out.splitlines()
    starts = [m.start() for m in re.finditer(r"\S+", header)]
    bounds = zip(starts, starts[1:] + [None])
    return {header[a:b].strip(): row[a:b].strip() for a, b in bounds}


def test_kubectl_get_shows_future_times_readably(
        kubectl: Kubectl, star_env: StarEnv, operator_process, namespace: str) -> None:
    """NotAfter, EndDate and NextFetch lie ahead: kubectl printed a ``date`` column holding a
    future time as ``<invalid>``; they are RFC 3339 strings now (Age stays a date)."""
    kubectl.apply(star_env.star_order("shown", namespace, [unique_host(namespace)],
                                      lifetime="1h", duration="1d"))
    order = wait_condition(kubectl, "starorder", "shown", namespace, status="True",
                           reason="Issued", timeout=120)
    cert = wait_for(lambda: (c := get(kubectl, "starcertificate", "shown", namespace))
                    and c.get("status", {}).get("nextFetch") and c, 30, "nextFetch")
    now = datetime.datetime.now(datetime.timezone.utc)
    # a native StarOrder's current certificate is its StarCertificate's: no NOTAFTER of its own
    for kind, obj, columns in (("starorder", order, ("ENDDATE",)),
                               ("starcertificate", cert, ("NOTAFTER", "NEXTFETCH"))):
        out = kubectl.run("get", kind, "shown", "-n", namespace, "-o", "wide").stdout
        assert "<invalid>" not in out, out
        cells = _table_cells(out)
        for column in columns:
            shown = cells[column]
            assert shown == obj["status"][{"NOTAFTER": "notAfter", "ENDDATE": "endDate",
                                           "NEXTFETCH": "nextFetch"}[column]], (column, out)
            when = datetime.datetime.fromisoformat(shown.replace("Z", "+00:00"))
            assert when.tzinfo is not None and when > now, (column, out)
        if kind == "starorder":
            assert cells["NOTAFTER"] in ("", "<none>"), out

"""``kubectl star`` (the installed ``kubectl-star`` console script) against the real control
plane with the operator running: status / inspect / renew on a native STAR order from star-ca,
a forced renewal of an emulated series, and one-line errors (not found, forbidden, bad
kubeconfig), with the kubeconfig's own namespace as the default."""
from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from op_env import (StarEnv, ca_revocations, events, get, installed, public_ca, secret_tls,
                    wait_condition)

from star_devenv.ca import LocalCA
from star_devenv.kubectl import Kubectl
from star_operator import pem, timeutil
from star_operator.constants import RENEW_ANNOTATION
from star_operator.verify import serial_hex
from tests.waiting import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.dns]

CLI = Path(sys.executable).with_name("kubectl-star")
HOUR = 3600  # the emulated CA's profile: no natural renewal happens during a test


def star(kubeconfig: Path | str, *args: str) -> subprocess.CompletedProcess[str]:
    """``kubectl star ARGS`` as a user runs it, with this kubeconfig in KUBECONFIG."""
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    proc = subprocess.run([str(CLI), *args], capture_output=True, text=True, env=env,
                          timeout=60)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def _leaf(kubectl: Kubectl, ns: str, secret: str):
    tls = secret_tls(kubectl, ns, secret)
    return (pem.load_chain(tls[0])[0], tls) if tls else None


def _issued(kubectl: Kubectl, env: StarEnv, ns: str, name: str, host: str, **spec: Any):
    kubectl.apply(env.star_order(name, ns, [host], **spec))
    wait_condition(kubectl, "starorder", name, ns, status="True", timeout=120)
    return wait_for(lambda: _leaf(kubectl, ns, f"{name}-tls"), 30, f"{name}: Secret")[0]


def test_native_order_status_inspect_and_renew_refused(
        kubectl: Kubectl, control_plane: Any, star_env: StarEnv, operator_process,
        namespace: str) -> None:
    kubeconfig = control_plane.kubeconfig
    host = f"web-{namespace}.star.test"
    leaf = _issued(kubectl, star_env, namespace, "web", host, lifetime="1h", duration="2h")
    serial = serial_hex(leaf)
    wait_for(lambda: (get(kubectl, "starcertificate", "web", namespace) or {}).get(
        "status", {}).get("serial") == serial, 30, "the StarCertificate's status")
    wait_for(lambda: events(kubectl, namespace, "web"), 30, "the StarOrder's events")
    order = get(kubectl, "starorder", "web", namespace)

    proc = star(kubeconfig, "status", "starorder", "web", "-n", namespace)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    lines = {line.split(":", 1)[0].strip(): line.split(":", 1)[1].strip()
             for line in out.splitlines() if ":" in line and not line.startswith("  ")}
    assert lines["Ready"].startswith("True")
    assert lines["Mode"] == "Native (CA: STAR)"
    assert lines["CA directory"] == star_env.ca.directory_url
    assert lines["Template"].startswith(f"{star_env.template} (Ready True")
    assert lines["Order (STAR ID)"] == order["status"]["orderURL"]
    assert lines["STAR certificate URL"] == order["status"]["starCertificateURL"]
    assert re.search(rf"^  Serial: +{serial}$", out, re.M)
    assert re.search(r"^  Time left: +(59m[0-9]+s|1h)$", out, re.M)
    reasons = {e["reason"] for e in events(kubectl, namespace, "web")}
    event_section = out.split("\nEvents")[1]
    assert any(reason in event_section for reason in reasons)

    report = json.loads(star(kubeconfig, "status", "starorder/web", "-n", namespace,
                             "-o", "json").stdout)
    assert report["current"]["serial"] == serial and report["ready"]["status"] == "True"
    assert report["ca"]["mode"] == "Native" and report["next"]["basis"] == "star-certificate"
    assert timeutil.parse_time(report["next"]["at"]) < leaf.not_valid_after_utc
    cert_report = json.loads(star(kubeconfig, "status", "stc", "web", "-n", namespace,
                                  "-o", "json").stdout)
    assert cert_report["starOrder"] == "web" and cert_report["current"]["serial"] == serial
    assert cert_report["orderURL"] == order["status"]["orderURL"]

    proc = star(kubeconfig, "inspect", "secret", "web-tls", "-n", namespace)
    assert proc.returncode == 0, proc.stderr
    assert re.search(rf"^  DNS names: +{re.escape(host)}$", proc.stdout, re.M)
    assert re.search(rf"^  Serial: +{serial}$", proc.stdout, re.M)
    assert re.search(r"^tls.key: +ECDSA P-256, matches the leaf certificate$", proc.stdout, re.M)
    assert re.search(rf"^  star.operator.dev/serial: +{serial}$", proc.stdout, re.M)
    assert re.search(rf"^  cert-manager.io/alt-names: +{re.escape(host)}$", proc.stdout, re.M)
    inspected = json.loads(star(kubeconfig, "inspect", "secret", "web-tls", "-n", namespace,
                                "-o", "json").stdout)
    first = inspected["certificates"][0]
    assert first["dnsNames"] == [host] and first["serial"] == serial
    der = leaf.public_bytes(serialization.Encoding.DER)
    assert first["sha256Fingerprint"].replace(":", "").lower() == hashlib.sha256(der).hexdigest()
    assert inspected["key"]["matchesLeaf"] is True
    assert inspected["annotations"]["star.operator.dev/serial"] == serial

    proc = star(kubeconfig, "renew", "starorder", "web", "-n", namespace)
    assert proc.returncode == 2
    assert "native STAR order" in proc.stderr and "cannot be forced" in proc.stderr
    assert proc.stderr.count("\n") == 1
    annotations = get(kubectl, "starorder", "web", namespace)["metadata"].get("annotations")
    assert RENEW_ANNOTATION not in (annotations or {})


def _kubeconfig_as(control_plane: Any, tmp_path: Path, *, namespace: str,
                   token: str | None = None) -> Path:
    """A copy of the control plane's kubeconfig, its context in ``namespace``, optionally
    with another user's token."""
    config = yaml.safe_load(Path(control_plane.kubeconfig).read_text())
    config["contexts"][0]["context"]["namespace"] = namespace
    if token:
        config["users"][0]["user"] = {"token": token}
    path = tmp_path / f"kubeconfig-{uuid.uuid4().hex[:6]}"
    path.write_text(yaml.safe_dump(config))
    return path


def test_errors_are_one_line_and_the_context_namespace_is_the_default(
        kubectl: Kubectl, control_plane: Any, star_env: StarEnv, operator_process,
        namespace: str, tmp_path: Path) -> None:
    host = f"err-{namespace}.star.test"
    kubectl.apply(star_env.star_order("err", namespace, [host], lifetime="1h", duration="2h"))
    in_ns = _kubeconfig_as(control_plane, tmp_path, namespace=namespace)
    proc = star(in_ns, "status", "starorder", "err", "-o", "json")  # no -n: the context's
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["namespace"] == namespace

    proc = star(control_plane.kubeconfig, "status", "starorder", "err")  # context: default
    assert proc.returncode == 1
    assert proc.stderr == "kubectl-star: error: starorder 'err' not found in namespace default\n"
    proc = star(in_ns, "inspect", "secret", "nope")
    assert proc.returncode == 1 and "secret 'nope' not found" in proc.stderr

    bad = tmp_path / "bad-kubeconfig"
    bad.write_text("clusters: [\n")
    proc = star(bad, "status", "starorder", "err")
    assert proc.returncode == 1 and proc.stderr.startswith("kubectl-star: error: bad kubeconfig")
    assert proc.stderr.count("\n") == 1

    # a ServiceAccount without any permission: forbidden, one line
    kubectl.run("create", "serviceaccount", "viewer", "-n", namespace)
    token = kubectl.run("create", "token", "viewer", "-n", namespace,
                        "--duration=1h").stdout.strip()
    as_viewer = _kubeconfig_as(control_plane, tmp_path, namespace=namespace, token=token)
    proc = star(as_viewer, "status", "starorder", "err")
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1
    assert proc.stderr.startswith("kubectl-star: error: forbidden:") and "viewer" in proc.stderr
    # allowed to read StarOrders only: the screen still shows, and says what it could not read
    kubectl.apply({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                   "metadata": {"name": "star-reader", "namespace": namespace},
                   "rules": [{"apiGroups": ["star.operator.dev"],
                              "resources": ["starorders", "starcertificates"],
                              "verbs": ["get"]}]})
    kubectl.run("create", "rolebinding", "star-reader", "-n", namespace, "--role=star-reader",
                f"--serviceaccount={namespace}:viewer")
    proc = wait_for(lambda: (lambda p: p if p.returncode == 0 else None)(
        star(as_viewer, "status", "starorder", "err")), 30, "the RoleBinding to take effect")
    notes = [line for line in proc.stdout.splitlines() if line.startswith("Note: ")]
    assert any("csrtemplates" in n and "forbidden" in n for n in notes), proc.stdout
    assert any(n.startswith("Note: events: forbidden") for n in notes), proc.stdout


# ------------------------------------------------------------------------------ emulated

@pytest.fixture(scope="module")
def hour_ca(dns_server: Any) -> Iterator[LocalCA]:
    """star-ca playing a public CA: no STAR, one-hour certificates, ARI."""
    with public_ca(dns_server, {"hour": HOUR}) as ca:
        yield ca


@pytest.fixture(scope="module")
def hour_env(kubectl: Kubectl, crds: None, dns_server: Any, hour_ca: LocalCA
             ) -> Iterator[StarEnv]:
    with installed(StarEnv(kubectl, dns_server, hour_ca, suffix=f"c{uuid.uuid4().hex[:5]}",
                           profile="hour")) as env:
        yield env


def test_emulated_series_status_and_forced_renewal(
        kubectl: Kubectl, control_plane: Any, hour_env: StarEnv, operator_process,
        namespace: str) -> None:
    kubeconfig = control_plane.kubeconfig
    host = f"emu-{namespace}.star.test"
    # hour_ca stops before the module's operator does: the series is deleted (and its
    # certificates revoked) while the CA is still there
    try:
        first = _issued(kubectl, hour_env, namespace, "emu", host, lifetime="1h", duration="1d")
        first_serial = serial_hex(first)
        wait_for(lambda: (get(kubectl, "starorder", "emu", namespace)["status"].get("series")
                          or {}).get("serial") == first_serial, 30, "series status")

        report = json.loads(star(kubeconfig, "status", "starorder", "emu", "-n", namespace,
                                 "-o", "json").stdout)
        assert report["ca"]["mode"] == "Emulated"
        assert report["ca"]["summary"] == "Emulated+profiles+ARI"
        assert report["current"]["serial"] == first_serial
        assert report["next"]["basis"] == "ARI"
        renew_at = timeutil.parse_time(report["next"]["at"])
        # nothing falls due during the test: every new serial is a forced renewal
        assert renew_at > timeutil.utcnow() + datetime.timedelta(minutes=30)
        text = star(kubeconfig, "status", "starorder", "emu", "-n", namespace).stdout
        assert "Emulated (CA: Emulated+profiles+ARI)" in text and "Basis: ARI (window" in text

        proc = star(kubeconfig, "renew", "starorder", "emu", "-n", namespace)
        assert proc.returncode == 0, proc.stderr
        value = get(kubectl, "starorder", "emu", namespace)["metadata"]["annotations"][
            RENEW_ANNOTATION]
        assert abs((timeutil.parse_time(value) - timeutil.utcnow()).total_seconds()) < 60
        assert value in proc.stdout and first_serial in proc.stdout
        second = wait_for(lambda: (lambda got: got[0] if got and serial_hex(got[0]) != first_serial
                                   else None)(_leaf(kubectl, namespace, "emu-tls")), 60,
                          "the forced renewal's certificate")
        series = wait_for(lambda: (lambda s: s if s.get("renewRequest") == value else None)(
            get(kubectl, "starorder", "emu", namespace)["status"]["series"]), 30,
            "the request to be recorded")
        assert series["serial"] == serial_hex(second)

        proc = star(kubeconfig, "renew", "starorder/emu", "-n", namespace, "--wait",
                    "--timeout", "60")
        assert proc.returncode == 0, proc.stderr
        third = _leaf(kubectl, namespace, "emu-tls")[0]
        assert serial_hex(third) not in (first_serial, serial_hex(second))
        assert f"new certificate serial {serial_hex(third)}" in proc.stdout
        inspected = json.loads(star(kubeconfig, "inspect", "secret", "emu-tls", "-n", namespace,
                                    "-o", "json").stdout)
        assert inspected["certificates"][0]["serial"] == serial_hex(third)
        assert inspected["key"]["matchesLeaf"] is True

        proc = star(kubeconfig, "cancel", "starorder", "emu", "-n", namespace, "--wait")
        assert proc.returncode == 0, proc.stderr
        assert "revoked" in proc.stdout and "canceled (" in proc.stdout
        order = get(kubectl, "starorder", "emu", namespace)
        assert order["spec"]["canceled"] is True and order["status"]["phase"] == "Canceled"
        assert ca_revocations(hour_env.ca)[serial_hex(third)] == 5
        assert "already canceled" in star(kubeconfig, "cancel", "starorder", "emu", "-n",
                                          namespace).stdout
        refused = star(kubeconfig, "renew", "starorder", "emu", "-n", namespace)
        assert refused.returncode == 2  # nothing more for a canceled series
    finally:
        kubectl.run("delete", "starorder", "emu", "-n", namespace, "--timeout=60s",
                    check=False, timeout=90)

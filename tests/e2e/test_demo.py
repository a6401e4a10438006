"""The README's first command, in its non-interactive mode, on both paths: the demo must show
renewals and the cancellation, and leave nothing running."""
from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest


# Generous: the teardown takes 4-5 s on a node (2-3 s of it deleting the node's unpacked image),
# less without one; it took 10-13 s here (the issue saw a minute) when it deleted the pods
# through the API and waited for the kubelet while their Deployments recreated them.
TEARDOWN_BOUND = 10.0


def run_demo(*args: str, timeout: float, rotations: int = 2) -> str:
    """The demo's output (stdout and stderr); also checks that the teardown ended promptly, from
    its first line to the process's exit."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "star_devenv.demo", "--non-interactive", "--ca-port", "0",
         "--dns-port", "0", "--rotations", str(rotations), *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL)
    assert proc.stdout is not None
    watchdog = threading.Timer(timeout, proc.kill)
    watchdog.start()
    lines: list[str] = []
    teardown_started = None
    try:
        for line in proc.stdout:
            lines.append(line)
            if teardown_started is None and "tearing down every process" in line:
                teardown_started = time.monotonic()
        proc.wait()
        ended = time.monotonic()
    finally:
        watchdog.cancel()
        proc.kill()
        proc.wait()
    out = "".join(lines)
    assert proc.returncode == 0, f"exit {proc.returncode} (killed after {timeout} s?)\n" \
        + out[-6000:]
    assert "star-certificate URL now answers: 403 autoRenewalCanceled" in out, out
    assert teardown_started is not None, out
    assert ended - teardown_started < TEARDOWN_BOUND, out[-3000:]
    return out


def assert_teardown_steps(out: str, *steps: str) -> None:
    """The teardown says each step, in order, and how long it took."""
    lines = out[out.index("tearing down every process the demo started"):].splitlines()
    said = [line.split("tearing down: ", 1)[1] for line in lines if "tearing down: " in line]
    for step in steps:
        assert any(s.startswith(step) for s in said), f"no step {step!r} in\n{out[-3000:]}"
    assert [s for s in said if s.startswith(steps)] == \
        [s for step in steps for s in said if s.startswith(step)], said
    assert re.fullmatch(r"done in \d+\.\d s", said[-1]), said


def assert_torn_down(out: str) -> None:
    """The state directory (control plane, BIND, node, logs) is gone and nothing is mounted
    under it any more."""
    found = re.search(r"export KUBECONFIG=(/tmp/star-demo-[^/]+)/", out)
    assert found is not None, out
    state_dir = found.group(1)
    assert not Path(state_dir).exists()
    assert state_dir not in Path("/proc/self/mountinfo").read_text()


@pytest.mark.cluster
@pytest.mark.dns
def test_demo_on_host_shows_rotations_then_cancellation() -> None:
    out = run_demo("--no-node", "--lifetime", "10", timeout=400)
    serials = re.findall(r"(?:first certificate|rotation \d+)\s+serial=([0-9a-f]+)", out)
    assert len(serials) == 3 and len(set(serials)) == 3, out
    assert_teardown_steps(out, "stopping the operator (pid ", "stopping star-ca (pid ",
                          "stopping BIND 9", "stopping the control plane (kube-controller-manager, "
                          "kube-apiserver, etcd)", "removing /tmp/star-demo-")
    assert_torn_down(out)


@pytest.mark.cluster
@pytest.mark.dns
@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGTERM])
def test_demo_torn_down_by_hangup_or_term(signum: signal.Signals) -> None:
    """A closed terminal (SIGHUP) or a SIGTERM mid-run stops everything the demo started."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "star_devenv.demo", "--no-node", "--ca-port", "0",
         "--dns-port", "0"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        stdin=subprocess.DEVNULL)
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 300
    while not any("applying examples/" in line for line in lines):
        line = proc.stdout.readline()
        assert line and time.monotonic() < deadline, "".join(lines)
        lines.append(line)
    proc.send_signal(signum)
    rest, _ = proc.communicate(timeout=120)
    out = "".join(lines) + rest
    assert proc.returncode == 130, out
    assert "tearing down every process the demo started" in out
    assert_torn_down(out)


@pytest.mark.node
@pytest.mark.timeout(1800)  # a fresh machine builds the project image first (debootstrap)
def test_demo_on_node_prints_what_the_edge_serves() -> None:
    """The default path where a node can run: the chart's pods, the CDN edge, TLS handshakes
    (one renewal: the node e2e tests show more, at the edge and in two clusters)."""
    out = run_demo("--node", "--edge-port", "0", timeout=1700, rotations=1)
    assert re.search(r"operator pod and CA pod Ready", out), out
    served = re.findall(r"edge serves (?:first certificate|renewal \d+)\s+serial=([0-9a-f]+)",
                        out)
    assert len(served) == 2 and len(set(served)) == 2, out
    kept = re.search(r"the edge still serves serial=([0-9a-f]+) \(the Secret is kept\)", out)
    assert kept is not None and kept.group(1) == served[-1], out
    assert_teardown_steps(out, "stopping the node star-node: 3 pod(s)", "stopping BIND 9",
                          "stopping the control plane", "removing /tmp/star-demo-")
    node_step = next(line for line in out.splitlines() if "stopping the node" in line)
    for pod in ("cdn/cdn-edge-", "star-operator/star-star-operator-",
                "star-operator/star-star-operator-ca-"):
        assert pod in node_step, node_step
    assert_torn_down(out)

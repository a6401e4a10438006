"""The README's first command, in its non-interactive mode, on both paths: the demo must show
renewals and the cancellation, and leave nothing running."""
from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


def run_demo(*args: str, timeout: float) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "star_devenv.demo", "--non-interactive", "--ca-port", "0",
         "--dns-port", "0", "--rotations", "2", *args],
        capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    out = proc.stdout
    assert proc.returncode == 0, out[-3000:] + proc.stderr[-3000:]
    assert "star-certificate URL now answers: 403 autoRenewalCanceled" in out, out
    return out


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
    """The default path where a node can run: the chart's pods, the CDN edge, TLS handshakes."""
    out = run_demo("--node", "--edge-port", "0", timeout=1700)
    assert re.search(r"operator pod and CA pod Ready", out), out
    served = re.findall(r"edge serves (?:first certificate|renewal \d+)\s+serial=([0-9a-f]+)",
                        out)
    assert len(served) == 3 and len(set(served)) == 3, out
    kept = re.search(r"the edge still serves serial=([0-9a-f]+) \(the Secret is kept\)", out)
    assert kept is not None and kept.group(1) == served[-1], out
    assert_torn_down(out)

"""The README's first command, in its non-interactive mode: the demo must show renewals and the
cancellation, and leave nothing running."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.cluster, pytest.mark.dns]


def test_demo_shows_rotations_then_cancellation() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "star_devenv.demo", "--non-interactive", "--ca-port", "0",
         "--dns-port", "0", "--rotations", "2", "--lifetime", "10"],
        capture_output=True, text=True, timeout=400, stdin=subprocess.DEVNULL)
    out = proc.stdout
    assert proc.returncode == 0, out[-3000:] + proc.stderr[-3000:]
    serials = re.findall(r"(?:first certificate|rotation \d+)\s+serial=([0-9a-f]+)", out)
    assert len(serials) == 3 and len(set(serials)) == 3, out
    assert "star-certificate URL now answers: 403 autoRenewalCanceled" in out
    state_dir = re.search(r"export KUBECONFIG=(/tmp/star-demo-[^/]+)/", out)
    assert state_dir is not None
    assert subprocess.run(["test", "-e", state_dir.group(1)]).returncode == 1

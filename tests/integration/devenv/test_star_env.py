"""`star-env up|status|down` from separate processes, as a person debugging would use it."""
from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest

from star_devenv.kubectl import Kubectl
from star_devenv.processes import is_alive

pytestmark = [pytest.mark.cluster, pytest.mark.dns]


def star_env(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "star_devenv", *args], capture_output=True,
                          text=True, timeout=180)


def test_up_status_down_leaves_nothing_behind(tmp_path: Path) -> None:
    state = tmp_path / "env"
    up = star_env("up", "--state-dir", str(state), "--ca-port", "0", "--dns-port", "0")
    assert up.returncode == 0, up.stderr
    info = json.loads(up.stdout)
    assert Path(info["kubeconfig"]).exists()
    assert info["ca"]["directory_url"].startswith("https://127.0.0.1:")
    kubectl = Kubectl(Path(info["kubeconfig"]))
    bundle = kubectl.get_json("secret", "star-ca-bundle", "-n", "star-operator")
    assert base64.b64decode(bundle["data"]["ca.crt"]).decode() == \
        Path(info["ca"]["root_pem"]).read_text()
    status = star_env("status", "--state-dir", str(state))
    assert status.returncode == 0, status.stdout
    report = json.loads(status.stdout)
    pids = [info["dns"]["pid"], info["ca"]["pid"]]
    assert report["controlplane"]["running"] and report["dns"]["running"]
    assert report["ca"]["running"]
    cp_pids = json.loads((state / "controlplane" / "controlplane.json").read_text())["pids"]
    pids += list(cp_pids.values())
    down = star_env("down", "--state-dir", str(state))
    assert down.returncode == 0, down.stderr
    assert not any(is_alive(pid) for pid in pids)
    assert not state.exists()
    assert star_env("status", "--state-dir", str(state)).returncode == 1

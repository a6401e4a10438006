"""Proof that the harness node is real: kube-scheduler places pods, the kubelet runs them in
containerd, Secret volumes follow updates, the project's own image runs, and teardown leaves no
process, mount or file behind.

Pods use `hostNetwork: true`, so a pod's server is reachable on host loopback: the tests talk to
busybox `httpd` inside the pod instead of `kubectl exec`/`logs` (which need a non-loopback node IP).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from star_devenv.controlplane import LocalControlPlane
from star_devenv.kubectl import Kubectl
from star_devenv.node import CTR_NAMESPACE, POD_LOG_DIR, SHIM_SOCKET_DIR, LocalNode
from star_devenv.processes import free_port, is_alive
from tests.waiting import wait_for

pytestmark = pytest.mark.node


@pytest.fixture(scope="module")
def ns(kubectl: Kubectl) -> Iterator[str]:
    name = f"node-{uuid.uuid4().hex[:8]}"
    kubectl.run("create", "namespace", name)
    yield name
    kubectl.run("delete", "namespace", name, "--wait=false", check=False)


def pod(name: str, image: str, command: list[str], *, node_name: str | None = None,
        secret: str | None = None, restart: str = "Always") -> dict[str, Any]:
    spec: dict[str, Any] = {
        "hostNetwork": True, "terminationGracePeriodSeconds": 1, "restartPolicy": restart,
        "containers": [{"name": "main", "image": image, "imagePullPolicy": "Never",
                        "command": command}],
    }
    if node_name:
        spec["nodeName"] = node_name
    if secret:
        spec["volumes"] = [{"name": "secret", "secret": {"secretName": secret}}]
        spec["containers"][0]["volumeMounts"] = [{"name": "secret", "mountPath": "/secret"}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def _json(manifest: dict[str, Any]) -> str:
    return json.dumps(manifest)


def secret(name: str, value: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
            "stringData": {"value": value}}


def container_log(p: dict[str, Any]) -> str:
    """The kubelet's log files for a pod (what `kubectl logs` would show)."""
    meta = p["metadata"]
    files = sorted(POD_LOG_DIR.glob(f"{meta['namespace']}_{meta['name']}_{meta['uid']}/*/*.log"))
    return "\n".join(f.read_text(errors="replace") for f in files) or "(no container log)"


def wait_phase(kubectl: Kubectl, ns: str, name: str, want: str,
               timeout: float = 90) -> dict[str, Any]:
    """Wait for the pod's phase; fail at once (with its log) if it ends otherwise."""
    def reached() -> dict[str, Any] | None:
        p = kubectl.get_json("pod", name, "-n", ns)
        phase = p["status"].get("phase")
        if phase in ("Succeeded", "Failed") and phase != want:
            raise AssertionError(f"pod {name} ended {phase}: {p['status']}\n{container_log(p)}")
        return p if phase == want else None
    return wait_for(reached, timeout, f"pod {name} {want}", interval=0.5)


def http_get(port: int, path: str) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as resp:
            return str(resp.read().decode().strip())
    except OSError:
        return None


def httpd(port: int, root: str) -> list[str]:
    return ["httpd", "-f", "-p", f"127.0.0.1:{port}", "-h", root]


def test_scheduler_places_a_pod_that_runs(node: LocalNode, kubectl: Kubectl, ns: str,
                                          busybox_image: str) -> None:
    port = free_port()
    script = ("mkdir -p /www && echo served-by-pod > /www/index.html && exec "
              + " ".join(httpd(port, "/www")))
    kubectl.run("apply", "-n", ns, "-f", "-",
                input=_json(pod("web", busybox_image, ["sh", "-c", script])))
    running = wait_phase(kubectl, ns, "web", "Running")
    assert running["spec"]["nodeName"] == node.name  # bound by kube-scheduler, not by us
    assert wait_for(lambda: http_get(port, "/index.html"), 30, "the pod's httpd") == "served-by-pod"
    kubectl.run("delete", "pod", "web", "-n", ns, "--grace-period=1", "--wait=false")


def test_mounted_secret_follows_updates(node: LocalNode, kubectl: Kubectl, ns: str,
                                        busybox_image: str) -> None:
    port = free_port()
    kubectl.run("apply", "-n", ns, "-f", "-", input=_json(secret("edge-tls", "first")))
    kubectl.run("apply", "-n", ns, "-f", "-", input=_json(
        pod("reader", busybox_image, httpd(port, "/secret"), secret="edge-tls")))
    wait_phase(kubectl, ns, "reader", "Running")
    assert wait_for(lambda: http_get(port, "/value"), 30, "the mounted Secret") == "first"
    updated = time.monotonic()
    kubectl.run("apply", "-n", ns, "-f", "-", input=_json(secret("edge-tls", "second")))
    wait_for(lambda: http_get(port, "/value") == "second", 120, "the updated Secret in the pod")
    print(f"Secret update visible in the pod after {time.monotonic() - updated:.1f} s")
    kubectl.run("delete", "pod", "reader", "-n", ns, "--grace-period=1", "--wait=false")


@pytest.mark.timeout(1800)  # a fresh machine runs debootstrap once (about a minute or two)
def test_project_image_runs_operator_and_ca(node: LocalNode, kubectl: Kubectl, ns: str,
                                            project_image: str) -> None:
    # ... and the CDN edge of examples/cdn-edge.yaml: Debian's nginx and inotifywait.
    check = ("command -v star-operator && star-ca --help > /dev/null && "
             "python3 -c 'import star_operator, star_ca, kopf, acme, dns' && "
             "nginx -v && command -v inotifywait")
    kubectl.run("apply", "-n", ns, "-f", "-", input=_json(
        pod("selftest", project_image, ["sh", "-c", check], restart="Never")))
    done = wait_phase(kubectl, ns, "selftest", "Succeeded", timeout=180)
    assert done["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 0


def test_teardown_leaves_no_process_mount_or_file(control_plane: LocalControlPlane,
                                                  kubectl: Kubectl, ns: str) -> None:
    """A second node of its own (pods pinned by nodeName), stopped while a pod with a Secret
    volume runs: every PID, shim, container process, mount and host file must be gone, the pod
    and the node out of the API, and `stop()` says what it stops and takes seconds, not the
    pod's grace period and the kubelet's cleanup (16 s before it killed the containers itself)."""
    if not isinstance(control_plane, LocalControlPlane):
        pytest.skip("a local node joins only the local control plane")
    name = f"star-node-{uuid.uuid4().hex[:6]}"
    with LocalNode(control_plane, name=name, scheduler=False) as extra:
        kubectl.run("apply", "-n", ns, "-f", "-", input=_json(secret("teardown", "x")))
        kubectl.run("apply", "-n", ns, "-f", "-", input=_json(pod(
            "doomed", extra.state.sandbox_image, ["sleep", "3600"], node_name=name,
            secret="teardown")))
        running = wait_phase(kubectl, ns, "doomed", "Running")
        uid = running["metadata"]["uid"]
        pids = dict(extra.state.pids)
        containers = extra.ctr("containers", "ls", "-q").split()
        shim_sockets = [SHIM_SOCKET_DIR / hashlib.sha256(
            os.path.join(str(extra.socket), CTR_NAMESPACE, cid).encode()).hexdigest()
            for cid in containers]
        assert any(s.exists() for s in shim_sockets), "no containerd shim is serving the pod"
        assert extra.mounts(), "the Secret volume is not mounted"
        assert list(POD_LOG_DIR.glob(f"*_{uid}"))
        assert _non_loopback_listeners(set(pids.values())) == []
        directory = extra.directory
        said: list[str] = []
        started = time.monotonic()
        extra.stop(report=said.append)
        stop_seconds = time.monotonic() - started
    # `with` has called stop() again: nothing left to do
    assert said == [f"stopping the node {name}: 1 pod(s) ({ns}/doomed), kubelet, containerd"]
    assert stop_seconds < 5, f"stop() took {stop_seconds:.1f} s"  # generous: ~1 s
    assert {n: pid for n, pid in pids.items() if is_alive(pid)} == {}
    assert extra.leftover_processes(containers) == []
    assert not any(s.exists() for s in shim_sockets)
    assert extra.mounts() == []
    assert not directory.exists()
    assert not list(POD_LOG_DIR.glob(f"*_{uid}"))
    assert not kubectl.exists("node", name)
    wait_for(lambda: not kubectl.exists("pod", "doomed", "-n", ns), 30, "the pod object gone")


def _non_loopback_listeners(pids: set[int]) -> list[str]:
    """Listening TCP/UDP sockets of these processes on anything but loopback."""
    out = subprocess.run(["ss", "-H", "-ltunp"], capture_output=True, text=True,
                         check=True).stdout
    bad = []
    for line in out.splitlines():
        owners = {int(p) for p in re.findall(r"pid=(\d+)", line)}
        local = line.split()[4]
        if owners & pids and not local.startswith(("127.0.0.1:", "[::1]:")):
            bad.append(line)
    return bad

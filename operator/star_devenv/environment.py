"""The whole local environment as one unit: control plane, BIND 9, the STAR CA and a node.

`star-env up` starts them detached and records what it started in a state directory, so that
`star-env status` and `star-env down` (another process, later) find and stop exactly those
processes. The demo and people debugging use this; tests use the per-component fixtures.

The CA runs as a host process unless `host_ca=False` (the demo's node path runs the chart's
embedded CA as a pod instead); `node=True` adds a LocalNode (kubelet + containerd) for pods.

The CA and BIND listen on fixed loopback ports by default (the ones `examples/` name), and `up`
publishes the CA root and the TSIG secret as the Secrets the example CsrTemplate refers to, so
that `kubectl apply -f examples/` works against this environment as it stands.
"""
from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from star_devenv import dns
from star_devenv.ca import LocalCA
from star_devenv.controlplane import STATE_FILE as CP_STATE_FILE
from star_devenv.controlplane import LocalControlPlane
from star_devenv.kubectl import Kubectl
from star_devenv.node import STATE_FILE as NODE_STATE_FILE
from star_devenv.node import LocalNode
from star_devenv.processes import is_alive, stop_pid

CA_STATE_FILE = "ca.json"


@dataclass(frozen=True)
class EnvironmentSettings:
    """What examples/ expect; change the ports only together with the examples."""

    ca_port: int = 14000
    dns_port: int = 5353
    min_lifetime: int = 10
    tsig_key_name: str = "star-test-key"
    namespace: str = "star-operator"
    ca_bundle_secret: str = "star-ca-bundle"
    tsig_secret: str = "star-test-tsig"
    host_ca: bool = True
    node: bool = False


def up(state_dir: Path, settings: EnvironmentSettings = EnvironmentSettings()) -> dict[str, Any]:
    """Start whatever is not already running; return the connection details."""
    state_dir.mkdir(parents=True, exist_ok=True)
    cp_dir = state_dir / "controlplane"
    if (cp_dir / CP_STATE_FILE).exists() and all(LocalControlPlane.load(cp_dir).running().values()):
        plane = LocalControlPlane.load(cp_dir)
    else:
        shutil.rmtree(cp_dir, ignore_errors=True)
        plane = LocalControlPlane(cp_dir).start()
    dns_info = dns.up(state_dir, port=settings.dns_port or None,
                      tsig_key_name=settings.tsig_key_name)
    ca_info = _start_ca(state_dir, settings, dns_info["server"]) if settings.host_ca else {}
    publish_dno_secrets(Kubectl(plane.kubeconfig), settings,
                        Path(ca_info["root_pem"]) if ca_info else None, dns_info["tsig_secret"])
    node_info = _start_node(state_dir, plane) if settings.node else {}
    return {"kubeconfig": str(plane.kubeconfig), "api_url": plane.api_url,
            "dns": dns_info, "ca": ca_info, "node": node_info}


def _start_ca(state_dir: Path, settings: EnvironmentSettings, dns_server: str) -> dict[str, Any]:
    ca_info = _ca_status(state_dir)
    if not ca_info.get("running"):
        ca = LocalCA(data_dir=state_dir / "ca", dns_server=dns_server,
                     min_lifetime=settings.min_lifetime, port=settings.ca_port or None).start()
        ca_info = {"pid": ca.pid, "directory_url": ca.directory_url,
                   "root_pem": str(ca.root_pem_path), "log": str(ca.log_path)}
        (state_dir / CA_STATE_FILE).write_text(json.dumps(ca_info, indent=2))
        ca_info["running"] = True
    return ca_info


def _start_node(state_dir: Path, plane: LocalControlPlane) -> dict[str, Any]:
    """A node in `state_dir/node`, so that `down` (maybe another process) stops it first."""
    node = load_node(state_dir)
    if node is not None and all(node.running().values()):
        return _node_info(node)
    if node is not None:
        node.stop()
    return _node_info(LocalNode(plane, directory=state_dir / "node").start())


def _node_info(node: LocalNode) -> dict[str, Any]:
    return {"name": node.name, "directory": str(node.directory), "pids": node.state.pids,
            "running": all(node.running().values())}


def load_node(state_dir: Path) -> LocalNode | None:
    """The node `up` started in this state directory, if any (another process may have)."""
    cp_dir = state_dir / "controlplane"
    if not ((state_dir / "node" / NODE_STATE_FILE).exists()
            and (cp_dir / CP_STATE_FILE).exists()):
        return None
    return LocalNode.load(state_dir / "node", LocalControlPlane.load(cp_dir))


def publish_dno_secrets(kubectl: Kubectl, settings: EnvironmentSettings, root_pem: Path | None,
                        tsig_secret: str) -> None:
    """The DNO's side of the setup: the TSIG key for RFC 2136 and, when the CA runs on the host,
    its root to trust (the chart's embedded CA publishes its own root Secret)."""
    kubectl.apply({"apiVersion": "v1", "kind": "Namespace",
                   "metadata": {"name": settings.namespace}})
    secrets = [(settings.tsig_secret, {"secret": tsig_secret})]
    if root_pem is not None:
        secrets.append((settings.ca_bundle_secret, {"ca.crt": root_pem.read_text()}))
    for name, data in secrets:
        kubectl.apply({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                       "metadata": {"name": name, "namespace": settings.namespace},
                       "stringData": data})


def _ca_status(state_dir: Path) -> dict[str, Any]:
    path = state_dir / CA_STATE_FILE
    if not path.exists():
        return {"running": False}
    info = json.loads(path.read_text())
    return {**info, "running": is_alive(info["pid"])}


def status(state_dir: Path) -> dict[str, Any]:
    cp_dir = state_dir / "controlplane"
    cp: dict[str, Any] = {"running": False}
    if (cp_dir / CP_STATE_FILE).exists():
        plane = LocalControlPlane.load(cp_dir)
        cp = {"kubeconfig": str(plane.kubeconfig), "api_url": plane.api_url,
              "processes": plane.running()}
        cp["running"] = all(cp["processes"].values())
    node = load_node(state_dir)
    return {"controlplane": cp, "dns": dns.status(state_dir), "ca": _ca_status(state_dir),
            "node": _node_info(node) if node else {"running": False}}


def down(state_dir: Path, report: Callable[[str], None] | None = None) -> None:
    """Stop everything `up` started (CA, node, DNS, control plane) and remove the state
    directory; `report` gets one line per step. The node goes while the API server still runs:
    it lists its pods and removes them and itself from the API."""
    def step(what: str) -> None:
        if report is not None:
            report(what)
    ca = _ca_status(state_dir)
    if ca.get("pid"):
        step(f"stopping star-ca (pid {ca['pid']})")
        stop_pid(ca["pid"])
    node = load_node(state_dir)
    if node is not None:
        node.stop(report)
    if (state_dir / dns.STATE_FILE).exists():
        step("stopping BIND 9")
        dns.down(state_dir)
    cp_dir = state_dir / "controlplane"
    if (cp_dir / CP_STATE_FILE).exists():
        plane = LocalControlPlane.load(cp_dir)
        step(f"stopping the control plane ({', '.join(reversed(list(plane.running())))})")
        plane.stop()
    step(f"removing {state_dir}")
    shutil.rmtree(state_dir, ignore_errors=True)

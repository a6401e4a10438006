"""The whole local environment as one unit: control plane, BIND 9 and the STAR CA.

`star-env up` starts them detached and records what it started in a state directory, so that
`star-env status` and `star-env down` (another process, later) find and stop exactly those
processes. The demo and people debugging use this; tests use the per-component fixtures.

The CA and BIND listen on fixed loopback ports by default (the ones `examples/` name), and `up`
publishes the CA root and the TSIG secret as the Secrets the example CsrTemplate refers to, so
that `kubectl apply -f examples/` works against this environment as it stands.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from star_devenv import dns
from star_devenv.ca import LocalCA
from star_devenv.controlplane import STATE_FILE as CP_STATE_FILE
from star_devenv.controlplane import LocalControlPlane
from star_devenv.kubectl import Kubectl
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
    ca_info = _ca_status(state_dir)
    if not ca_info.get("running"):
        ca = LocalCA(data_dir=state_dir / "ca", dns_server=dns_info["server"],
                     min_lifetime=settings.min_lifetime, port=settings.ca_port or None).start()
        ca_info = {"pid": ca.pid, "directory_url": ca.directory_url,
                   "root_pem": str(ca.root_pem_path), "log": str(ca.log_path)}
        (state_dir / CA_STATE_FILE).write_text(json.dumps(ca_info, indent=2))
        ca_info["running"] = True
    publish_dno_secrets(Kubectl(plane.kubeconfig), settings, Path(ca_info["root_pem"]),
                        dns_info["tsig_secret"])
    return {"kubeconfig": str(plane.kubeconfig), "api_url": plane.api_url,
            "dns": dns_info, "ca": ca_info}


def publish_dno_secrets(kubectl: Kubectl, settings: EnvironmentSettings, root_pem: Path,
                        tsig_secret: str) -> None:
    """The DNO's side of the setup: the CA root to trust and the TSIG key for RFC 2136."""
    kubectl.apply({"apiVersion": "v1", "kind": "Namespace",
                   "metadata": {"name": settings.namespace}})
    for name, data in ((settings.ca_bundle_secret, {"ca.crt": root_pem.read_text()}),
                       (settings.tsig_secret, {"secret": tsig_secret})):
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
    return {"controlplane": cp, "dns": dns.status(state_dir), "ca": _ca_status(state_dir)}


def down(state_dir: Path) -> None:
    """Stop everything `up` started (CA, DNS, control plane) and remove the state directory."""
    ca = _ca_status(state_dir)
    if ca.get("pid"):
        stop_pid(ca["pid"])
    dns.down(state_dir)
    cp_dir = state_dir / "controlplane"
    if (cp_dir / CP_STATE_FILE).exists():
        LocalControlPlane.load(cp_dir).stop()
    shutil.rmtree(state_dir, ignore_errors=True)

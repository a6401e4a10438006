"""A real Kubernetes control plane on loopback: etcd + kube-apiserver + kube-controller-manager.

The envtest approach (what controller-runtime and cert-manager test with), plus the
controller-manager so that ServiceAccount token Secrets, garbage collection and namespace
deletion behave as on a real cluster. Binaries: etcd from Debian, the rest from the cached
source build made by scripts/setup.sh (see ../shared/reference/local-control-plane.md).
"""
from __future__ import annotations

import json
import secrets
import shutil
import ssl
import subprocess
import tempfile
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from star_devenv import paths, pki
from star_devenv.processes import free_port, is_alive, spawn, stop_pid, wait_until

STATE_FILE = "controlplane.json"
DEFAULT_CONTROLLERS = "*,-nodeipam,-nodelifecycle,-ttl"


@dataclass
class ControlPlaneState:
    """What another process needs to use or stop a running control plane."""

    directory: str
    api_port: int
    etcd_port: int
    token: str
    pids: dict[str, int] = field(default_factory=dict)

    @property
    def api_url(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"


class LocalControlPlane:
    """Start with `start()` or `with`; `stop()` kills every PID it started and removes its state."""

    def __init__(self, directory: Path | None = None, controllers: str = DEFAULT_CONTROLLERS,
                 startup_timeout: float = 90.0) -> None:
        self._own_dir = directory is None
        self.directory = Path(directory or tempfile.mkdtemp(prefix="star-cp-"))
        self.controllers = controllers
        self.startup_timeout = startup_timeout
        self.state: ControlPlaneState | None = None
        self._procs: dict[str, subprocess.Popen[bytes]] = {}

    # -- public surface ---------------------------------------------------------------------
    @property
    def kubeconfig(self) -> Path:
        return self.directory / "kubeconfig"

    @property
    def ca_cert(self) -> Path:
        return self.directory / "apiserver.crt"

    @property
    def sa_key(self) -> Path:
        return self.directory / "sa.key"

    @property
    def api_url(self) -> str:
        assert self.state is not None, "control plane not started"
        return self.state.api_url

    @property
    def admin_token(self) -> str:
        assert self.state is not None, "control plane not started"
        return self.state.token

    def env(self) -> dict[str, str]:
        """Environment additions for a subprocess (kubectl, helm, the operator) to use this
        cluster."""
        return {"KUBECONFIG": str(self.kubeconfig)}

    def __enter__(self) -> "LocalControlPlane":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> "LocalControlPlane":
        self.directory.mkdir(parents=True, exist_ok=True)
        self.state = ControlPlaneState(str(self.directory), api_port=free_port(),
                                       etcd_port=free_port(), token=secrets.token_hex(16))
        try:
            self._write_credentials()
            self._start_etcd()
            self._start_apiserver()
            self._write_kubeconfig()
            self._start_controller_manager()
        except BaseException:
            self.stop()
            raise
        self.save()
        return self

    def stop(self) -> None:
        # Reverse start order: controllers first, etcd last, so nothing logs errors mid-teardown.
        if self.state is not None:
            for name in reversed(list(self.state.pids)):
                stop_pid(self.state.pids[name])
            self.state.pids.clear()
        if self._own_dir or (self.directory / STATE_FILE).exists():
            shutil.rmtree(self.directory, ignore_errors=True)

    def restart_apiserver(self) -> None:
        """Stop kube-apiserver and start it again on the same port, certificates and etcd.

        State lives in etcd, so everything persists; clients see refused connections and
        broken watches meanwhile, as during an API server upgrade or crash.
        """
        self.stop_apiserver()
        self.start_apiserver()

    def stop_apiserver(self) -> None:
        """Stop kube-apiserver only (etcd and the controllers keep running), for an outage of
        a chosen length; :meth:`start_apiserver` ends it."""
        assert self.state is not None, "control plane not started"
        stop_pid(self.state.pids["kube-apiserver"])  # same dict slot: stop() order kept

    def start_apiserver(self) -> None:
        """Start kube-apiserver again on the same port, certificates and etcd; returns when it
        is ready."""
        assert self.state is not None, "control plane not started"
        self._start_apiserver()

    def save(self) -> None:
        assert self.state is not None
        (self.directory / STATE_FILE).write_text(json.dumps(asdict(self.state), indent=2))

    @classmethod
    def load(cls, directory: Path) -> "LocalControlPlane":
        """Attach to a control plane started by another process (for `star-env down/status`)."""
        data = json.loads((directory / STATE_FILE).read_text())
        plane = cls(directory)
        plane.state = ControlPlaneState(**data)
        return plane

    def running(self) -> dict[str, bool]:
        assert self.state is not None
        return {name: is_alive(pid) for name, pid in self.state.pids.items()}

    def is_ready(self) -> bool:
        ctx = ssl.create_default_context(cafile=str(self.ca_cert))
        req = urllib.request.Request(f"{self.api_url}/readyz",
                                     headers={"Authorization": f"Bearer {self.admin_token}"})
        with urllib.request.urlopen(req, context=ctx, timeout=2) as resp:
            return resp.status == 200

    # -- steps ------------------------------------------------------------------------------
    def _log(self, name: str) -> Path:
        return self.directory / f"{name}.log"

    def _write_credentials(self) -> None:
        assert self.state is not None
        pki.write_self_signed_server_cert(
            self.ca_cert, self.directory / "apiserver.key",
            dns_names=["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"],
            ips=["127.0.0.1", "10.0.0.1"])
        pki.write_rsa_key(self.sa_key)
        tokens = self.directory / "tokens.csv"
        tokens.write_text(f"{self.state.token},admin,admin,system:masters\n")
        tokens.chmod(0o600)

    def _start(self, name: str, argv: list[str]) -> None:
        assert self.state is not None
        proc = spawn(argv, self._log(name))
        self.state.pids[name] = proc.pid
        self.save()
        self._procs[name] = proc

    def _start_etcd(self) -> None:
        assert self.state is not None
        port = self.state.etcd_port
        self._start("etcd", [
            str(paths.system_binary("etcd")), "--data-dir", str(self.directory / "etcd"),
            "--listen-client-urls", f"http://127.0.0.1:{port}",
            "--advertise-client-urls", f"http://127.0.0.1:{port}",
            "--listen-peer-urls", f"http://127.0.0.1:{free_port()}",
        ])

        def healthy() -> bool:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as resp:
                return json.load(resp).get("health") == "true"
        wait_until(healthy, self.startup_timeout, "etcd", self._procs["etcd"], self._log("etcd"))

    def _start_apiserver(self) -> None:
        assert self.state is not None
        d = self.directory
        self._start("kube-apiserver", [
            str(paths.k8s_binary("kube-apiserver")),
            f"--etcd-servers=http://127.0.0.1:{self.state.etcd_port}",
            f"--secure-port={self.state.api_port}", "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1", "--insecure-port=0",
            f"--cert-dir={d / 'apiserver-certs'}",
            f"--tls-cert-file={self.ca_cert}", f"--tls-private-key-file={d / 'apiserver.key'}",
            f"--service-account-key-file={self.sa_key}",
            f"--service-account-signing-key-file={self.sa_key}",
            "--service-account-issuer=https://kubernetes.default.svc",
            f"--token-auth-file={d / 'tokens.csv'}",
            "--authorization-mode=RBAC", "--service-cluster-ip-range=10.0.0.0/24",
            "--allow-privileged=true",
        ])
        wait_until(self.is_ready, self.startup_timeout, "kube-apiserver",
                   self._procs["kube-apiserver"], self._log("kube-apiserver"))

    def _write_kubeconfig(self) -> None:
        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": "star-devenv",
            "clusters": [{"name": "star-devenv", "cluster": {
                "server": self.api_url, "certificate-authority": str(self.ca_cert)}}],
            "users": [{"name": "admin", "user": {"token": self.admin_token}}],
            "contexts": [{"name": "star-devenv", "context": {
                "cluster": "star-devenv", "user": "admin", "namespace": "default"}}],
        }
        self.kubeconfig.write_text(yaml.safe_dump(config))
        self.kubeconfig.chmod(0o600)

    def _start_controller_manager(self) -> None:
        self._start("kube-controller-manager", [
            str(paths.k8s_binary("kube-controller-manager")),
            f"--kubeconfig={self.kubeconfig}",
            f"--service-account-private-key-file={self.sa_key}",
            f"--root-ca-file={self.ca_cert}", "--use-service-account-credentials=true",
            "--leader-elect=false", "--bind-address=127.0.0.1", f"--secure-port={free_port()}",
            "--port=0",  # no insecure port: 10252 would collide between parallel planes
            f"--controllers={self.controllers}",
        ])
        wait_until(self._default_service_account_exists, self.startup_timeout,
                   "kube-controller-manager", self._procs["kube-controller-manager"],
                   self._log("kube-controller-manager"))

    def _default_service_account_exists(self) -> bool:
        """The serviceaccount controller creating `default` proves the controllers run."""
        ctx = ssl.create_default_context(cafile=str(self.ca_cert))
        req = urllib.request.Request(
            f"{self.api_url}/api/v1/namespaces/default/serviceaccounts/default",
            headers={"Authorization": f"Bearer {self.admin_token}"})
        with urllib.request.urlopen(req, context=ctx, timeout=2) as resp:
            return resp.status == 200


class ExistingCluster:
    """A cluster the user already has (kind, ...), named by KUBECONFIG; never started or stopped."""

    def __init__(self, kubeconfig: Path) -> None:
        self.kubeconfig = kubeconfig

    def env(self) -> dict[str, str]:
        return {"KUBECONFIG": str(self.kubeconfig)}

"""A real Kubernetes node on loopback: containerd + kubelet (+ kube-scheduler) as plain processes.

Attached to a running control plane (anything with a `.kubeconfig`, normally a
LocalControlPlane), it runs real pods: the project's image built by star_devenv.image, CDN edge
pods mounting renewed Secrets. Everything lives in one temporary directory (containerd root, state
and socket, the kubelet's root dir, CNI config, logs); `stop()` stops the scheduler and the kubelet,
kills every containerd task and what is left of the shims, stops every PID it started, removes
the pods and the node from the API, unmounts everything under that directory and removes it.
Facts behind every setting: ../shared/reference/local-node.md.

Pods must use `hostNetwork: true` (there is no pod network: traffic stays on loopback) and
`imagePullPolicy: Never` with an image imported by `import_image()` (there is no registry).
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml

from star_devenv import image, paths
from star_devenv.kubectl import Kubectl
from star_devenv.processes import (StartupError, free_port, is_alive, log_tail, spawn, stop_pid,
                                   wait_until)

STATE_FILE = "node.json"
# Controllers a LocalControlPlane needs for a node: nodelifecycle removes the
# node.kubernetes.io/not-ready taint once the node is Ready (else every pod stays Pending).
NODE_CONTROLLERS = "*,-nodeipam,-ttl"
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
CTR_NAMESPACE = "k8s.io"
# The kubelet's in-tree ECR credential provider asks the EC2 metadata service
# (169.254.169.254) for credentials at start: off, traffic stays on loopback.
LOOPBACK_ONLY_ENV = {"AWS_EC2_METADATA_DISABLED": "true"}
# Host paths that kubelet 1.20 and containerd 1.6 use whatever their configured directories
# (deepest first): removed at stop when this node created them.
SHIM_SOCKET_DIR = Path("/run/containerd/s")
POD_LOG_DIR = Path("/var/log/pods")
CONTAINER_LOG_LINKS = Path("/var/log/containers")
DEVICE_PLUGIN_DIR = Path("/var/lib/kubelet/device-plugins")
FIXED_HOST_DIRS = (SHIM_SOCKET_DIR, SHIM_SOCKET_DIR.parent, POD_LOG_DIR, CONTAINER_LOG_LINKS,
                   DEVICE_PLUGIN_DIR, DEVICE_PLUGIN_DIR.parent)


class Cluster(Protocol):
    kubeconfig: Path


@dataclass
class NodeState:
    """What another process needs to find or stop a running node (`star-env down`)."""

    directory: str
    name: str
    kubeconfig: str
    pids: dict[str, int] = field(default_factory=dict)
    sandbox_image: str = ""
    # Fixed host directories (see FIXED_HOST_DIRS) that did not exist before this node.
    created_host_dirs: list[str] = field(default_factory=list)


def nodelifecycle_enabled(controllers: str) -> bool:
    """Whether a kube-controller-manager `--controllers` value runs the nodelifecycle controller."""
    names = [c.strip() for c in controllers.split(",")]
    if "-nodelifecycle" in names:
        return False
    return "nodelifecycle" in names or "*" in names


def missing_requirements() -> list[str]:
    """Why a LocalNode cannot run on this machine; empty when it can. containerd and the kubelet
    need root (mounts, cgroups, network namespaces); the rest comes from scripts/setup.sh."""
    missing = [] if os.geteuid() == 0 else ["root (containerd and the kubelet mount and make "
                                            "cgroups)"]
    for name in ("containerd", "ctr", "runc", "debootstrap"):
        try:
            paths.system_binary(name)
        except FileNotFoundError as exc:
            missing.append(str(exc))
    for name in ("kubelet", "kube-scheduler"):
        try:
            paths.k8s_binary(name)
        except FileNotFoundError as exc:
            missing.append(str(exc))
    if not os.access("/sys/fs/cgroup", os.W_OK):
        missing.append("a writable /sys/fs/cgroup")
    return missing


class LocalNode:
    """`start()` (or `with`) registers a Ready node; `stop()` leaves no process, mount or file.

    If the control plane was started without the nodelifecycle controller, the node runs one of
    its own (a kube-controller-manager with `--controllers=nodelifecycle`). With `scheduler=True`
    (the default) it also runs kube-scheduler; a second node on the same cluster should pass
    `scheduler=False`. The snapshotter is overlayfs (a container's rootfs costs nothing);
    `snapshotter="native"` also works but copies the whole image for every container.
    """

    def __init__(self, cluster: Cluster, name: str = "star-node", directory: Path | None = None,
                 scheduler: bool = True, snapshotter: str = "overlayfs",
                 startup_timeout: float = 120.0) -> None:
        self.cluster = cluster
        self.name = name
        self._own_dir = directory is None
        self.directory = Path(directory or tempfile.mkdtemp(prefix="star-node-"))
        self.with_scheduler = scheduler
        self.snapshotter = snapshotter
        self.with_lifecycle = not nodelifecycle_enabled(
            getattr(cluster, "controllers", NODE_CONTROLLERS))
        self.startup_timeout = startup_timeout
        self.kubectl = Kubectl(Path(cluster.kubeconfig))
        self.state = NodeState(str(self.directory), name, str(cluster.kubeconfig))
        self.ready_seconds: float | None = None
        self._procs: dict[str, subprocess.Popen[bytes]] = {}

    # -- public surface -----------------------------------------------------------------------
    @property
    def socket(self) -> Path:
        """containerd's gRPC socket (for `ctr -a`)."""
        return self.directory / "containerd.sock"

    @property
    def kubelet_root(self) -> Path:
        return self.directory / "kubelet"

    def log(self, name: str) -> Path:
        return self.directory / "logs" / f"{name}.log"

    def __enter__(self) -> "LocalNode":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> "LocalNode":
        started = time.monotonic()
        self.state.created_host_dirs = [str(d) for d in (*FIXED_HOST_DIRS, *_runc_cgroup_parents())
                                        if not d.exists()]
        try:
            for sub in ("logs", "cni", "containerd", "kubelet", "kubelet-pki", "volume-plugins"):
                (self.directory / sub).mkdir(parents=True, exist_ok=True)
            archive, tag = image.build_busybox_image()
            self.state.sandbox_image = f"docker.io/{tag}"
            self._start_containerd()
            self.import_image(archive)
            if self.with_lifecycle:
                self._start_lifecycle_controller()
            if self.with_scheduler:
                self._start_scheduler()
            self._start_kubelet()
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        self.ready_seconds = time.monotonic() - started
        self.save()
        return self

    def import_image(self, archive: Path) -> None:
        """Import a docker-archive tarball into containerd's CRI namespace (unpacked for CRI)."""
        self.ctr("images", "import", "--snapshotter", self.snapshotter, str(archive), timeout=600)

    def images(self) -> list[str]:
        return self.ctr("images", "ls", "-q").split()

    def ctr(self, *args: str, timeout: float = 60, check: bool = True) -> str:
        argv = [str(paths.system_binary("ctr")), "--address", str(self.socket),
                "--namespace", CTR_NAMESPACE, *args]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise RuntimeError(f"ctr {' '.join(args)} failed ({proc.returncode}): "
                               f"{proc.stderr.strip()}")
        return proc.stdout

    def running(self) -> dict[str, bool]:
        return {name: is_alive(pid) for name, pid in self.state.pids.items()}

    def save(self) -> None:
        (self.directory / STATE_FILE).write_text(json.dumps(asdict(self.state), indent=2))

    @classmethod
    def load(cls, directory: Path, cluster: Cluster) -> "LocalNode":
        """Attach to a node started by another process (for `star-env down/status`)."""
        data = json.loads((directory / STATE_FILE).read_text())
        node = cls(cluster, name=data["name"], directory=directory)
        node.state = NodeState(**data)
        node._own_dir = True
        return node

    def stop(self, report: Callable[[str], None] | None = None) -> None:
        """Tear down in the order that leaves nothing behind, in seconds; safe to call more than
        once. `report` gets one line saying what goes (the pods, the processes).

        No pod is deleted through the API and waited for: controllers would recreate it, the
        kubelet takes its time (volume teardown, status sync) and the pods' processes are killed
        anyway. Instead nothing new can land (scheduler, then kubelet, stopped first, so nothing
        restarts a container), containerd SIGKILLs every task, and only then are the pod
        objects and the node removed from the API, without waiting."""
        pids = self.state.pids
        pods = self._pods_here() if pids else []
        if report is not None:
            names = ", ".join(f"{p['metadata']['namespace']}/{p['metadata']['name']}"
                              for p in pods)
            report(f"stopping the node {self.name}: {len(pods)} pod(s)"
                   f"{' (' + names + ')' if names else ''}, kubelet, containerd")
        pod_uids = {p["metadata"]["uid"] for p in pods} | self._kubelet_pod_uids()
        for name in ("kube-scheduler", "kubelet"):
            if name in pids:  # nothing new lands here, nothing restarts a container
                stop_pid(pids.pop(name))
        container_ids = self._kill_tasks() if pids.get("containerd") else []
        if "containerd" in pids:
            stop_pid(pids.pop("containerd"))
        self._kill_leftovers(container_ids)
        if "node-lifecycle-controller" in pids:
            stop_pid(pids.pop("node-lifecycle-controller"))
        self._delete_api_objects(bool(pods))
        self._unmount_all()
        self._remove_host_leftovers(pod_uids, container_ids)
        self._procs.clear()
        if self._own_dir:
            shutil.rmtree(self.directory, ignore_errors=True)
        elif self.directory.exists():
            self.save()

    # -- start steps --------------------------------------------------------------------------
    def _spawn(self, name: str, argv: list[str],
               env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        proc = spawn(argv, self.log(name), env={**os.environ, **(env or {})})
        self.state.pids[name] = proc.pid
        self._procs[name] = proc
        self.save()
        return proc

    def _start_containerd(self) -> None:
        d = self.directory
        (d / "cni" / "10-loopback.conflist").write_text(json.dumps({
            "cniVersion": "0.4.0", "name": "loopback",
            "plugins": [{"type": "loopback"}]}))
        cri = 'plugins."io.containerd.grpc.v1.cri"'
        config = f"""version = 2
root = "{d / 'containerd' / 'root'}"
state = "{d / 'containerd' / 'state'}"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
                    "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
                    "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "{self.socket}"
[ttrpc]
  address = "{self.socket}.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "{d / 'containerd' / 'opt'}"
[{cri}]
  sandbox_image = "{self.state.sandbox_image}"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [{cri}.containerd]
    snapshotter = "{self.snapshotter}"
    default_runtime_name = "runc"
    [{cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [{cri}.containerd.runtimes.runc.options]
        Root = "{d / 'containerd' / 'runc'}"
        SystemdCgroup = false
  [{cri}.cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{d / 'cni'}"
"""
        (d / "containerd.toml").write_text(config)
        proc = self._spawn("containerd", [str(paths.system_binary("containerd")),
                                          "--config", str(d / "containerd.toml")])
        wait_until(lambda: bool(self.ctr("version", timeout=5)), self.startup_timeout,
                   "containerd", proc, self.log("containerd"))

    def _kube_flags(self) -> list[str]:
        """Loopback only: a free secure port and no insecure port."""
        return [f"--kubeconfig={self.cluster.kubeconfig}", "--leader-elect=false",
                "--bind-address=127.0.0.1", f"--secure-port={free_port()}", "--port=0"]

    def _start_lifecycle_controller(self) -> None:
        self._spawn("node-lifecycle-controller", [
            str(paths.k8s_binary("kube-controller-manager")), *self._kube_flags(),
            "--controllers=nodelifecycle"])

    def _start_scheduler(self) -> None:
        self._spawn("kube-scheduler", [str(paths.k8s_binary("kube-scheduler")),
                                       *self._kube_flags()])

    def _start_kubelet(self) -> None:
        d = self.directory
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
            "address": "127.0.0.1", "port": free_port(), "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1", "healthzPort": free_port(),
            "cgroupDriver": "cgroupfs", "failSwapOn": False, "cgroupsPerQOS": False,
            "enforceNodeAllocatable": [],
            "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": False}},
            "authorization": {"mode": "AlwaysAllow"},
            "evictionHard": {}, "resolvConf": "", "syncFrequency": "10s",
            # Report Ready within ~2 s of becoming ready, not at the next 10 s tick.
            "nodeStatusUpdateFrequency": "2s",
            "volumePluginDir": str(d / "volume-plugins"),
            "staticPodPath": "",
        }
        (d / "kubelet.yaml").write_text(yaml.safe_dump(config))
        self._spawn("kubelet", [
            str(paths.k8s_binary("kubelet")),
            f"--kubeconfig={self.cluster.kubeconfig}", f"--config={d / 'kubelet.yaml'}",
            "--container-runtime=remote", f"--container-runtime-endpoint=unix://{self.socket}",
            f"--root-dir={self.kubelet_root}", f"--cert-dir={d / 'kubelet-pki'}",
            f"--seccomp-profile-root={self.kubelet_root / 'seccomp'}",
            f"--hostname-override={self.name}", "--node-ip=127.0.0.1",
        ], env=LOOPBACK_ONLY_ENV)

    def _node(self) -> dict[str, Any] | None:
        proc = self.kubectl.run("get", "node", self.name, "-o", "json", check=False, timeout=10)
        return json.loads(proc.stdout) if proc.returncode == 0 else None

    def _ready_and_untainted(self) -> bool:
        for name, proc in self._procs.items():
            if proc.poll() is not None:
                raise StartupError(f"{name} exited with code {proc.returncode}:\n"
                                   f"{log_tail(self.log(name))}")
        node = self._node()
        if node is None:
            return False
        ready = any(c["type"] == "Ready" and c["status"] == "True"
                    for c in node["status"].get("conditions", []))
        tainted = any(t["key"] == NOT_READY_TAINT for t in node["spec"].get("taints", []))
        return ready and not tainted

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while not self._ready_and_untainted():
            if time.monotonic() > deadline:
                raise StartupError(f"node {self.name} not Ready without the {NOT_READY_TAINT} "
                                   f"taint after {self.startup_timeout:.0f} s; kubelet log:\n"
                                   f"{log_tail(self.log('kubelet'))}")
            time.sleep(0.5)

    # -- stop steps ---------------------------------------------------------------------------
    def _pods_here(self) -> list[dict[str, Any]]:
        with contextlib.suppress(Exception):
            proc = self.kubectl.run("get", "pods", "--all-namespaces", "-o", "json",
                                    f"--field-selector=spec.nodeName={self.name}",
                                    check=False, timeout=15)
            if proc.returncode == 0:
                return list(json.loads(proc.stdout)["items"])
        return []

    def _kubelet_pod_uids(self) -> set[str]:
        pods_dir = self.kubelet_root / "pods"
        return {p.name for p in pods_dir.iterdir()} if pods_dir.is_dir() else set()

    def _kill_tasks(self) -> list[str]:
        """SIGKILL and delete every task containerd has (pod sandboxes and containers, one
        `ctr` call for all: a forced delete kills first); returns all container IDs."""
        with contextlib.suppress(Exception):
            ids = self.ctr("containers", "ls", "-q", timeout=15).split()
            tasks = self.ctr("tasks", "ls", "-q", timeout=15).split()
            if tasks:
                self.ctr("tasks", "delete", "--force", *tasks, check=False, timeout=30)
            for task in self.ctr("tasks", "ls", "-q", timeout=15).split():  # one at a time
                self.ctr("tasks", "kill", "--signal", "SIGKILL", "--all", task, check=False,
                         timeout=15)
                self.ctr("tasks", "delete", "--force", task, check=False, timeout=30)
            return ids
        return []

    def leftover_processes(self, container_ids: list[str]) -> list[int]:
        """PIDs that still refer to this node's directory in their command line (a shim that
        outlived containerd) or sit in one of the given containers' cgroups."""
        marker = str(self.directory)
        cgroup_suffixes = tuple(f"/{CTR_NAMESPACE}/{cid}" for cid in container_ids)
        found = []
        for proc_dir in Path("/proc").iterdir():
            if not proc_dir.name.isdigit() or int(proc_dir.name) == os.getpid():
                continue
            try:
                cmdline = (proc_dir / "cmdline").read_bytes().replace(b"\0", b" ").decode(
                    errors="replace")
                cgroups = (proc_dir / "cgroup").read_text().splitlines()
            except OSError:
                continue
            if marker in cmdline or (cgroup_suffixes and any(
                    line.endswith(cgroup_suffixes) for line in cgroups)):
                found.append(int(proc_dir.name))
        return found

    def _kill_leftovers(self, container_ids: list[str]) -> None:
        for pid in self.leftover_processes(container_ids):
            stop_pid(pid, grace=5)

    def _delete_api_objects(self, pods: bool) -> None:
        """This node's pod objects (their containers are gone: no grace period to wait for)
        and the node object, without waiting for the API server to confirm."""
        with contextlib.suppress(Exception):
            if pods:
                self.kubectl.run("delete", "pods", "--all-namespaces", "--force",
                                 "--grace-period=0", "--wait=false",
                                 f"--field-selector=spec.nodeName={self.name}",
                                 check=False, timeout=15)
            self.kubectl.run("delete", "node", self.name, "--ignore-not-found", "--wait=false",
                             check=False, timeout=15)

    def mounts(self) -> list[str]:
        """Mount points under this node's directory (Secret tmpfs, container rootfs, ...)."""
        return self._mounts_under(self.directory)

    @staticmethod
    def _mounts_under(root: Path) -> list[str]:
        prefix = str(root.resolve()).rstrip("/") + "/"
        found = []
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            point = line.split()[4].replace("\\040", " ")
            if point.startswith(prefix) or point + "/" == prefix:
                found.append(point)
        return found

    def _unmount_all(self) -> None:
        if self._mounts_under(self.kubelet_root):
            subprocess.run(["umount", "-R", str(self.kubelet_root)], capture_output=True)
        for _ in range(3):  # stacked mounts need more than one pass
            points = sorted(set(self._mounts_under(self.directory)), key=len, reverse=True)
            if not points:
                return
            for point in points:
                if subprocess.run(["umount", point], capture_output=True).returncode != 0:
                    subprocess.run(["umount", "-l", point], capture_output=True)

    def _remove_host_leftovers(self, pod_uids: set[str], container_ids: list[str]) -> None:
        """What kubelet and containerd write outside the node directory by design."""
        for uid in pod_uids:
            for pod_logs in POD_LOG_DIR.glob(f"*_{uid}"):
                shutil.rmtree(pod_logs, ignore_errors=True)
        if CONTAINER_LOG_LINKS.is_dir():
            for link in CONTAINER_LOG_LINKS.iterdir():
                if link.is_symlink() and not link.exists():
                    with contextlib.suppress(OSError):
                        link.unlink()
        for cid in container_ids:
            for cgroup in _runc_cgroup_parents():
                with contextlib.suppress(OSError):
                    (cgroup / cid).rmdir()
        for created in map(Path, self.state.created_host_dirs):
            if created == DEVICE_PLUGIN_DIR and created.is_dir():  # the kubelet's own socket
                for entry in created.iterdir():
                    if not entry.is_dir():
                        entry.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                created.rmdir()  # only when empty: another node may still use it


def _runc_cgroup_parents() -> list[Path]:
    """`/sys/fs/cgroup/<controller>/k8s.io`: where runc puts containers (cgroupsPerQOS off)."""
    root = Path("/sys/fs/cgroup")
    if (root / "cgroup.controllers").exists():  # cgroup v2: one unified hierarchy
        return [root / CTR_NAMESPACE]
    return [d / CTR_NAMESPACE for d in sorted(root.iterdir())
            if d.is_dir() and not d.is_symlink()] if root.is_dir() else []

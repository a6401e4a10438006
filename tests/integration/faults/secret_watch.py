"""Every version of the Secrets in a namespace, as the API server delivered them.

The fault tests judge renewals by what a CDN pod would have been served, so sampling the Secret
now and then is not enough (a rotation between two samples would go unseen). A watch from a
resourceVersion sees every write; when the API server goes away (the API server fault) the
watch is resumed from the last resourceVersion seen, and etcd replays whatever was written
meanwhile, so nothing is missed across the outage either.
"""
from __future__ import annotations

import base64
import dataclasses
import json
import subprocess
import threading
import time

from star_devenv.kubectl import Kubectl

RESUME_DELAY = 0.5  # between attempts to re-open the watch while the API server is away


@dataclasses.dataclass(frozen=True)
class SecretVersion:
    seen: float  # time.time() when the watch delivered it
    name: str
    tls_crt: bytes
    tls_key: bytes


class SecretWatch:
    """``start()`` lists the namespace's Secrets and watches from there in a thread;
    ``versions(name)`` gives the distinct ``tls.crt`` versions of one, oldest first."""

    def __init__(self, kubectl: Kubectl, namespace: str) -> None:
        self.kubectl, self.namespace = kubectl, namespace
        self._seen: list[SecretVersion] = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._proc: subprocess.Popen[str] | None = None
        self._thread = threading.Thread(target=self._run, name=f"watch-{namespace}",
                                        daemon=True)
        self._rv = ""

    def start(self) -> SecretWatch:
        listing = self.kubectl.get_json("secrets", "-n", self.namespace)
        for obj in listing["items"]:
            self._record(obj)
        self._rv = listing["metadata"]["resourceVersion"]
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        if self._proc is not None:
            self._proc.terminate()
        self._thread.join(10)

    def __enter__(self) -> SecretWatch:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def versions(self, name: str) -> list[SecretVersion]:
        with self._lock:
            out: list[SecretVersion] = []
            for v in self._seen:
                if v.name == name and v.tls_crt and (not out or out[-1].tls_crt != v.tls_crt):
                    out.append(v)
            return out

    def _record(self, obj: dict) -> None:
        data = obj.get("data") or {}
        version = SecretVersion(time.time(), obj["metadata"]["name"],
                                base64.b64decode(data.get("tls.crt") or ""),
                                base64.b64decode(data.get("tls.key") or ""))
        with self._lock:
            self._seen.append(version)

    def _run(self) -> None:
        while not self._stopped.is_set():
            path = (f"/api/v1/namespaces/{self.namespace}/secrets?watch=1"
                    f"&resourceVersion={self._rv}")
            argv = [self.kubectl.binary, f"--kubeconfig={self.kubectl.kubeconfig}", "get",
                    "--raw", path] + ([f"--token={self.kubectl.token}"] if self.kubectl.token
                                      else [])
            self._proc = subprocess.Popen(argv, stdout=subprocess.PIPE,
                                          stderr=subprocess.DEVNULL, text=True)
            assert self._proc.stdout is not None
            for line in self._proc.stdout:
                event = json.loads(line)
                if event["type"] in ("ADDED", "MODIFIED"):
                    self._record(event["object"])
                    self._rv = event["object"]["metadata"]["resourceVersion"]
            self._proc.wait()
            self._stopped.wait(RESUME_DELAY)

"""`LocalFrontEnd`: the DNO's delegation front end (``python -m star_operator.delegation``) as
a subprocess for tests and the demo, like :class:`star_devenv.ca.LocalCA` for star-ca.

It serves one namespace of the cluster its kubeconfig names, over HTTPS with a throwaway
self-signed certificate for 127.0.0.1 (``ca_pem``: what a CDN must trust), and is ready when
its directory answers. ``kill()`` + ``start()`` simulate a crash and restart on the same port.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

from star_devenv.pki import write_self_signed_server_cert
from star_devenv.processes import free_port, spawn, stop_pid, wait_until

__all__ = ["LocalFrontEnd"]


class LocalFrontEnd:
    """Attributes ``directory_url``, ``base_url``, ``ca_pem``, ``port``, ``log_path``."""

    def __init__(self, kubeconfig: str | Path, namespace: str, *,
                 start_timeout: float = 30.0) -> None:
        self.kubeconfig, self.namespace = Path(kubeconfig), namespace
        self.dir = Path(tempfile.mkdtemp(prefix="star-front-end-"))
        self.port = free_port()
        self.base_url = f"https://127.0.0.1:{self.port}"
        self.directory_url = self.base_url + "/directory"
        self.cert_path, self.key_path = self.dir / "tls.crt", self.dir / "tls.key"
        write_self_signed_server_cert(self.cert_path, self.key_path, ["localhost"],
                                      ["127.0.0.1"])
        self.ca_pem = self.cert_path.read_text()
        self.log_path = self.dir / "front-end.log"
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> LocalFrontEnd:
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig)}
        self.proc = spawn([sys.executable, "-m", "star_operator.delegation",
                           "--namespace", self.namespace, "--listen-address", "127.0.0.1",
                           "--port", str(self.port), "--tls-cert", str(self.cert_path),
                           "--tls-key", str(self.key_path), "--base-url", self.base_url],
                          self.log_path, env=env)
        wait_until(self._answers, self.start_timeout, "delegation front end", self.proc,
                   self.log_path)
        return self

    def _answers(self) -> bool:
        ctx = ssl.create_default_context(cadata=self.ca_pem)
        with urllib.request.urlopen(self.directory_url, context=ctx, timeout=2) as resp:
            return bool(json.load(resp)["meta"]["delegation-enabled"])

    def kill(self) -> None:
        """SIGKILL: a crash; nothing is flushed or closed."""
        if self.proc is not None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            stop_pid(self.proc.pid)
            self.proc.wait(10)
            self.proc = None

    def __enter__(self) -> LocalFrontEnd:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

"""`LocalCA`: the project's STAR CA (`star-ca serve`) as a subprocess for tests and the demo.

It listens on a free loopback port with a private data directory (a temporary one unless
given), and is ready when its directory answers over HTTPS verified against its own root.pem.
Teardown stops exactly the process it started, by PID (SIGTERM, then SIGKILL after a grace
period). ``kill()`` + ``start()`` simulate a crash and restart on the same data directory.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import shutil
import ssl
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType

from star_devenv.processes import StartupError, free_port, spawn, stop_pid, wait_until

__all__ = ["LocalCA", "StartupError"]


class LocalCA:
    """``star-ca serve`` on 127.0.0.1; attributes ``directory_url``, ``root_pem_path``,
    ``data_dir``, ``port``, ``log_path``."""

    def __init__(self, *, data_dir: str | Path | None = None, dns_server: str | None = None,
                 http01_port: int | None = None, min_lifetime: int = 1,
                 max_duration: int = 31536000, lifetime_adjust: int = 0,
                 caa_identities: Sequence[str] = ("star-ca.test",),
                 extra_args: Sequence[str] = (), start_timeout: float = 30.0,
                 port: int | None = None,
                 profiles: Mapping[str, int] = MappingProxyType({}),
                 default_profile: str | None = None, star: bool = True,
                 ari: bool = True) -> None:
        """``profiles`` (name -> certificate validity in s), ``default_profile``, ``star``
        and ``ari`` are the CA's --profile, --default-profile, --no-star and --no-ari: with
        STAR and ARI off and a short profile it plays a public CA such as Let's Encrypt."""
        self._own_dir = data_dir is None
        self.data_dir = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="star-ca-"))
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.dns_server, self.http01_port = dns_server, http01_port
        self.min_lifetime, self.max_duration = min_lifetime, max_duration
        self.lifetime_adjust, self.caa_identities = lifetime_adjust, tuple(caa_identities)
        self.extra_args, self.start_timeout = tuple(extra_args), start_timeout
        self.profiles, self.default_profile = dict(profiles), default_profile
        self.star, self.ari = star, ari
        self.log_path = self.data_dir / "star-ca.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"https://{self.host}:{self.port}"

    @property
    def directory_url(self) -> str:
        return f"{self.base_url}/directory"

    @property
    def root_pem_path(self) -> Path:
        return self.data_dir / "root.pem"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def argv(self) -> list[str]:
        args = [sys.executable, "-m", "star_ca", "serve", "--listen", f"{self.host}:{self.port}",
                "--data-dir", str(self.data_dir), "--min-lifetime", str(self.min_lifetime),
                "--max-duration", str(self.max_duration),
                "--lifetime-adjust", str(self.lifetime_adjust)]
        if self.dns_server:
            args += ["--dns-server", self.dns_server]
        if self.http01_port:
            args += ["--http01-port", str(self.http01_port)]
        for ident in self.caa_identities:
            args += ["--caa-identity", ident]
        for name, seconds in self.profiles.items():
            args += ["--profile", f"{name}={seconds}"]
        if self.default_profile:
            args += ["--default-profile", self.default_profile]
        args += [] if self.star else ["--no-star"]
        args += [] if self.ari else ["--no-ari"]
        return args + list(self.extra_args)

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.root_pem_path))

    def _directory_ok(self) -> bool:
        if not self.root_pem_path.exists():
            return False
        with urllib.request.urlopen(self.directory_url, context=self.ssl_context(),
                                    timeout=2) as resp:
            return bool(json.load(resp).get("newNonce"))

    def start(self) -> LocalCA:
        if self._proc is not None and self._proc.poll() is None:
            raise RuntimeError("LocalCA already running")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._proc = spawn(self.argv(), self.log_path)
        try:
            wait_until(self._directory_ok, self.start_timeout, "star-ca directory",
                       proc=self._proc, log_path=self.log_path)
        except BaseException:
            self.kill()
            raise
        return self

    def kill(self) -> None:
        """SIGKILL at once (crash simulation); the data directory stays."""
        if self._proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait(10)
            self._proc = None

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL) and remove a temporary data directory."""
        if self._proc is not None:
            stop_pid(self._proc.pid)
            self._proc.wait(10)
            self._proc = None
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> LocalCA:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

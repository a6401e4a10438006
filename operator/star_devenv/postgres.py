"""`LocalPostgres`: Debian's PostgreSQL server on a free loopback port, for star-ca replicas in
tests and benchmarks.

A fresh cluster (``initdb``) in a temporary directory, password authentication (SCRAM) for one
role with a random password, so the URL star-ca is given carries a secret the way a real one
does. PostgreSQL refuses to run as root, so as root it runs as the ``postgres`` user the Debian
package creates. ``database()`` makes an empty database and returns its URL. Teardown stops the
server by PID and removes the directory.
"""
from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from star_devenv.processes import free_port, spawn, stop_pid, wait_until

ROLE = "star"


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"),
                   key=lambda p: int(Path(p).parts[-3]))
    if not found:
        raise RuntimeError("PostgreSQL is not installed (Debian package postgresql; "
                           "scripts/setup.sh installs it)")
    return Path(found[-1]).parent


def _all_pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def _ppid(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


class LocalPostgres:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="star-pg-"))
        self.port = free_port()
        self.password = secrets.token_urlsafe(16)
        self.log_path = self.dir / "postgres.log"
        self._bin = _bin_dir()
        self._user = "postgres" if os.geteuid() == 0 else None
        self._proc: subprocess.Popen[bytes] | None = None

    def _as_owner(self, argv: Sequence[str]) -> list[str]:
        return ["runuser", "-u", self._user, "--", *argv] if self._user else list(argv)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{ROLE}:{self.password}@127.0.0.1:{self.port}/{database}"

    def start(self) -> LocalPostgres:
        data, sock = self.dir / "data", self.dir / "sock"
        sock.mkdir()
        pwfile = self.dir / "pw"
        pwfile.write_text(self.password + "\n")
        if self._user:
            uid = pwd.getpwnam(self._user).pw_uid
            for path in (self.dir, sock, pwfile):
                os.chown(path, uid, -1)
        subprocess.run(self._as_owner([
            str(self._bin / "initdb"), "-D", str(data), "-U", ROLE, f"--pwfile={pwfile}",
            "--auth=scram-sha-256", "-E", "UTF8", "--no-sync"]),
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        pwfile.unlink()
        self.log_path.touch()
        if self._user:
            os.chown(self.log_path, pwd.getpwnam(self._user).pw_uid, -1)
        self._proc = spawn(self._as_owner([
            str(self._bin / "postgres"), "-D", str(data), "-p", str(self.port),
            "-k", str(sock), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
            "-c", "max_connections=200"]), self.log_path)
        wait_until(self._ready, 30, "PostgreSQL", proc=self._proc, log_path=self.log_path)
        return self

    def _ready(self) -> bool:
        return subprocess.run([str(self._bin / "pg_isready"), "-q", "-h", "127.0.0.1",
                               "-p", str(self.port)], check=False).returncode == 0

    def psql(self, sql: str, database: str = "postgres") -> str:
        out = subprocess.run([str(self._bin / "psql"), "-X", "-q", "-t", "-A",
                              "-v", "ON_ERROR_STOP=1", "-c", sql, self.url(database)],
                             check=True, capture_output=True, text=True)
        return out.stdout.strip()

    def database(self, name: str | None = None) -> str:
        """A new empty database; its URL (password included: do not log it)."""
        name = name or "ca_" + secrets.token_hex(4)
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def pids(self) -> list[int]:
        """The server's processes: the postmaster and its children (one backend per client
        connection, and the background workers), for their CPU time."""
        if self._proc is None:
            return []
        parents = {self._proc.pid}
        found: list[int] = []
        for _ in range(3):  # runuser -> postmaster -> backends
            children = [pid for pid in _all_pids() if _ppid(pid) in parents]
            found += children
            parents = set(children)
        return found

    def stop(self) -> None:
        if self._proc is not None:
            stop_pid(self._proc.pid)
            self._proc.wait(10)
            self._proc = None
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> LocalPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

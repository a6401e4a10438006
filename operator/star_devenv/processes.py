"""Start, watch and stop the helper processes of the local environment.

Every process is started in its own session with its output in a log file, and is remembered by
PID so that teardown can stop exactly what was started, even from another Python process
(`star-env down`) after the one that started it is gone.
"""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path


class StartupError(RuntimeError):
    """A component did not become ready; the message carries the tail of its log."""


def free_port(host: str = "127.0.0.1") -> int:
    """A port the kernel just handed out, so parallel environments do not collide."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def spawn(argv: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None,
          cwd: Path | None = None) -> subprocess.Popen[bytes]:
    """Start a detached process whose stdout and stderr go to `log_path`."""
    log = open(log_path, "ab")  # noqa: SIM115 - the child owns the descriptor from here on
    try:
        return subprocess.Popen(
            list(argv), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=dict(env) if env is not None else None, cwd=cwd, start_new_session=True)
    finally:
        log.close()


def is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); reap it if it is ours.
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    return True


def stop_pid(pid: int, grace: float = 10.0) -> None:
    """SIGTERM the process group, then SIGKILL whatever is left after `grace` seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if not is_alive(pid):
                return
            time.sleep(0.05)


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def wait_until(predicate: Callable[[], bool], timeout: float, what: str,
               proc: subprocess.Popen[bytes] | None = None, log_path: Path | None = None,
               interval: float = 0.1) -> None:
    """Poll `predicate` until true; fail fast if `proc` exits, with its log in the error."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise StartupError(f"{what} exited with code {proc.returncode}:\n"
                               f"{log_tail(log_path) if log_path else ''}")
        with contextlib.suppress(Exception):
            if predicate():
                return
        time.sleep(interval)
    raise StartupError(f"{what} not ready after {timeout:.0f} s:\n"
                       f"{log_tail(log_path) if log_path else ''}")

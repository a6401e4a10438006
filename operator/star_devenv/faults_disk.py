"""`SmallDisk`: a small tmpfs a test mounts under a component's state directory, fills to ENOSPC
and frees again: the disk-full fault, without touching any real filesystem.

Needs root (``mount``); without it ``mount()`` fails with mount's own message, so a test that
needs the fault fails clearly instead of passing without it.
"""
from __future__ import annotations

import errno
import subprocess
from pathlib import Path
from types import TracebackType

CHUNKS = (1 << 20, 64 << 10, 4 << 10, 512)  # large writes first, then whatever room is left


class SmallDisk:
    """tmpfs of ``size`` (mount's syntax: ``8m``) at ``path``; ``fill()`` takes every free
    byte with one filler file, ``free()`` deletes it."""

    def __init__(self, path: Path, size: str = "8m") -> None:
        self.path, self.size = path, size
        self.filler = path / "filler"
        self._mounted = False

    def mount(self) -> SmallDisk:
        self.path.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.size},mode=0700",
                               "tmpfs", str(self.path)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"cannot mount a tmpfs at {self.path} (root needed): "
                               f"{proc.stderr.strip()}")
        self._mounted = True
        return self

    def unmount(self) -> None:
        if self._mounted:
            subprocess.run(["umount", "--lazy", str(self.path)], check=True)
            self._mounted = False

    def fill(self) -> int:
        """Write until the filesystem has no byte left; returns how many bytes were written."""
        written = 0
        with open(self.filler, "ab", buffering=0) as f:
            for size in CHUNKS:
                block = b"\0" * size
                while True:
                    try:
                        written += f.write(block) or 0
                    except OSError as exc:
                        if exc.errno != errno.ENOSPC:
                            raise
                        break
        return written

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)

    def __enter__(self) -> SmallDisk:
        return self.mount()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.unmount()

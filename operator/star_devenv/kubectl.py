"""A thin kubectl runner bound to one kubeconfig: what tests and the demo shell out to."""
from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from star_devenv import paths


class KubectlError(RuntimeError):
    def __init__(self, argv: list[str], code: int, stderr: str) -> None:
        super().__init__(f"kubectl {' '.join(argv)} failed ({code}): {stderr.strip()}")
        self.code = code
        self.stderr = stderr


class Kubectl:
    def __init__(self, kubeconfig: Path, token: str | None = None) -> None:
        self.kubeconfig = kubeconfig
        self.token = token
        self.binary = str(paths.kubectl_binary())

    def _argv(self, args: tuple[str, ...]) -> list[str]:
        argv = [self.binary, f"--kubeconfig={self.kubeconfig}"]
        if self.token:
            argv.append(f"--token={self.token}")
        return argv + list(args)

    def _env(self) -> dict[str, str]:
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig)}

    def run(self, *args: str, input: str | None = None, check: bool = True,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
        argv = self._argv(args)
        proc = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout,
                              env=self._env())
        if check and proc.returncode != 0:
            raise KubectlError(list(args), proc.returncode, proc.stderr)
        return proc

    def watch(self, *args: str) -> subprocess.Popen[str]:
        """``kubectl get ... --watch`` as a running process whose stdout has one output per
        change, as the API server's watch delivers it (the caller stops it)."""
        return subprocess.Popen(self._argv(("get", *args, "--watch")), stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True, env=self._env())

    def apply(self, manifest: str | Mapping[str, Any]) -> str:
        text = manifest if isinstance(manifest, str) else json.dumps(manifest)
        return self.run("apply", "-f", "-", input=text).stdout

    def get_json(self, *args: str) -> dict[str, Any]:
        return json.loads(self.run("get", *args, "-o", "json").stdout)

    def exists(self, *args: str) -> bool:
        return self.run("get", *args, "-o", "name", check=False).returncode == 0

"""Running the real helm binary against the project's chart.

`Helm` keeps helm's cache, config and data directories in a private temporary directory, so
neither the tests nor the demo read or write the user's ~/.cache/helm or ~/.config/helm.
"""
from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from star_devenv import paths

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "star-operator"


class HelmError(AssertionError):
    def __init__(self, argv: Sequence[str], code: int, stderr: str) -> None:
        super().__init__(f"helm {' '.join(argv)} failed ({code}):\n{stderr.strip()}")
        self.code = code
        self.stderr = stderr


class Helm:
    def __init__(self, kubeconfig: Path | None = None) -> None:
        self.binary = str(paths.helm_binary())
        self.kubeconfig = kubeconfig
        self._home = tempfile.TemporaryDirectory(prefix="star-helm-")

    def env(self) -> dict[str, str]:
        home = Path(self._home.name)
        env = {**os.environ, "HELM_CACHE_HOME": str(home / "cache"),
               "HELM_CONFIG_HOME": str(home / "config"), "HELM_DATA_HOME": str(home / "data")}
        if self.kubeconfig is not None:
            env["KUBECONFIG"] = str(self.kubeconfig)
        else:
            env.pop("KUBECONFIG", None)
        return env

    def run(self, *args: str, check: bool = True,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([self.binary, *args], capture_output=True, text=True,
                              timeout=timeout, env=self.env())
        if check and proc.returncode != 0:
            raise HelmError(list(args), proc.returncode, proc.stderr)
        return proc

    def template(self, *args: str, release: str = "rel", namespace: str = "star-system",
                 values: Mapping[str, Any] | None = None,
                 check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("template", release, str(CHART), "--namespace", namespace,
                        *values_args(values), *args, check=check)

    def render(self, values: Mapping[str, Any] | None = None, *args: str,
               release: str = "rel", namespace: str = "star-system") -> list[dict[str, Any]]:
        """The rendered manifests as objects (empty documents dropped)."""
        out = self.template(*args, release=release, namespace=namespace, values=values).stdout
        return [d for d in yaml.safe_load_all(out) if d]

    def install(self, release: str, namespace: str, values: Mapping[str, Any] | None = None,
                *args: str) -> subprocess.CompletedProcess[str]:
        return self.run("install", release, str(CHART), "--namespace", namespace,
                        *values_args(values), *args, timeout=180)

    def uninstall(self, release: str, namespace: str,
                  *args: str) -> subprocess.CompletedProcess[str]:
        return self.run("uninstall", release, "--namespace", namespace, *args, timeout=180)

    def close(self) -> None:
        self._home.cleanup()


def values_args(values: Mapping[str, Any] | None) -> list[str]:
    """One `--set-json key=<json>` per top-level key: exact types, no temporary file."""
    return [arg for key, value in (values or {}).items()
            for arg in ("--set-json", f"{key}={json.dumps(value)}")]

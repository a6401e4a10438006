"""Well-known locations: the build cache (kept across runs) and default state directories."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

K8S_VERSION = "1.20.2"


def cache_dir() -> Path:
    """Where scripts/setup.sh caches the one-time Kubernetes build and helm."""
    explicit = os.environ.get("STAR_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "star-operator"


def k8s_binary(name: str) -> Path:
    path = cache_dir() / f"k8s-{K8S_VERSION}" / name
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: run scripts/setup.sh once to build Kubernetes {K8S_VERSION}")
    return path


def helm_binary() -> Path:
    path = cache_dir() / "helm" / "helm"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run scripts/setup.sh")
    return path


def kubectl_binary() -> Path:
    """kubectl from the same wheel as helm, so a fresh machine needs no other source."""
    cached = cache_dir() / "helm" / "kubectl"
    return cached if cached.exists() else system_binary("kubectl")


def system_binary(name: str) -> Path:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/bin")
    if not found:
        raise FileNotFoundError(
            f"{name} not found: run scripts/setup.sh (installs Debian packages)")
    return Path(found)


def default_state_dir() -> Path:
    """State of a standalone `star-env up`, so `down` and `status` find it again."""
    return Path(os.environ.get("STAR_ENV_STATE", "/tmp/star-env"))

"""Container images built without Docker: the project's image and a tiny busybox image.

The project image is three layers, each cached and rebuilt only when its inputs change:
  1. a Debian bookworm rootfs from `debootstrap --variant=minbase --include=python3,...`
     (the mirror is the machine's own apt source, or `--mirror URL` /
     $STAR_DEBIAN_MIRROR: star_devenv.apt_sources); inputs: suite and package list. It also
     carries Debian's nginx and inotify-tools for the CDN edge of examples/cdn-edge.yaml (a few
     MB: one image to build, import and cache instead of a second debootstrap);
  2. a virtualenv `/opt/star` with the project's dependencies (wheels from PyPI); inputs: the
     dependency list in pyproject.toml;
  3. the project's own wheel installed into that venv, with `star-operator` and `star-ca` on
     PATH (the same entrypoints as the Dockerfile); inputs: a content hash of the source tree,
     pyproject.toml and README (which also names the image tag).
All are written as a docker-archive tarball (`manifest.json`, the image config JSON with
`rootfs.diff_ids`, one uncompressed tar per layer) that `ctr images import` accepts. No registry,
no Docker engine: see ../shared/reference/local-node.md.

`python -m star_devenv.image [--mirror URL]` builds the project image and prints its archive
path and tag.
"""
from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import io
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from star_devenv import apt_sources, paths

SUITE = "bookworm"
# nginx and inotify-tools: the CDN edge (nginx, and its reload-on-Secret-change watcher).
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates", "nginx", "inotify-tools")
# The Dockerfile's user (the chart's runAsUser/runAsGroup): kopf looks up its own user name
# (getpass.getuser()) and fails on a uid without a passwd entry.
IMAGE_USER, IMAGE_UID = "star", 10001
VENV = "/opt/star"
ENTRYPOINTS = ("star-operator", "star-ca")
IMAGE_REPOSITORY = "local/star-operator"
BUSYBOX_REPOSITORY = "local/busybox"
# Bump when the layout of what is built changes, so cached layers are not reused across it.
BUILDER_VERSION = "1"
# What is left out of the base layer: runtime mounts and package-manager caches.
BASE_EXCLUDES = ("dev/", "proc/", "sys/", "run/", "tmp/", "var/cache/apt/archives/",
                 "var/lib/apt/lists/", "var/log/", "debootstrap/")
PER_PACKAGE = re.compile(r"I: (Retrieving|Validating|Checking|Extracting|Unpacking|Configuring) "
                         r"\S+\.\.\.$")
WHEELS_IN_ROOTFS = "/tmp/star-wheels"
PATH_ENV = f"PATH={VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class ImageBuildError(RuntimeError):
    """A build step failed; the message says which and carries its output."""


@dataclass(frozen=True)
class Layer:
    """An uncompressed layer tar and its diff_id (`sha256:<hex of the tar>`)."""

    path: Path
    diff_id: str


def say(message: str) -> None:
    print(f"[image] {message}", flush=True)


def images_dir() -> Path:
    d = paths.cache_dir() / "images"
    d.mkdir(parents=True, exist_ok=True)
    return d


@contextlib.contextmanager
def build_lock() -> Iterator[None]:
    """One builder at a time per cache (tests and the demo may race)."""
    with open(images_dir() / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def project_root() -> Path:
    """The checkout: the directory holding pyproject.toml above this package."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").exists():
            return parent
    raise ImageBuildError(f"no pyproject.toml above {here}")


# -- inputs and their hashes ----------------------------------------------------------------------
def debian_mirror(override: str | None = None) -> apt_sources.Mirror:
    """The mirror to debootstrap from: `override`, $STAR_DEBIAN_MIRROR, the machine's apt
    sources (the rule of scripts/setup.sh), else deb.debian.org (star_devenv.apt_sources)."""
    try:
        return apt_sources.debian_mirror(SUITE, override)
    except ValueError as error:
        raise ImageBuildError(str(error)) from None


def _digest(chunks: Iterable[bytes]) -> str:
    h = hashlib.sha256()
    for chunk in chunks:
        h.update(len(chunk).to_bytes(8, "big"))
        h.update(chunk)
    return h.hexdigest()


def base_key() -> str:
    return _digest([BUILDER_VERSION.encode(), SUITE.encode(), ",".join(BASE_PACKAGES).encode(),
                    b" ".join(e.encode() for e in BASE_EXCLUDES),
                    f"{IMAGE_USER}:{IMAGE_UID}".encode()])[:16]


def source_files(root: Path) -> list[Path]:
    """Everything the wheel is made of: the source root, pyproject.toml and the README."""
    files = [root / "pyproject.toml", root / "README.md"]
    for dirpath, dirnames, filenames in os.walk(root / "operator"):
        dirnames[:] = sorted(d for d in dirnames
                             if d != "__pycache__" and not d.endswith(".egg-info"))
        files += [Path(dirpath) / f for f in sorted(filenames) if not f.endswith((".pyc", ".pyo"))]
    return [f for f in files if f.is_file()]


def dependencies(root: Path) -> list[str]:
    return list(tomllib.loads((root / "pyproject.toml").read_text())["project"]["dependencies"])


def app_key(root: Path) -> str:
    parts = [base_key().encode()]
    for f in source_files(root):
        parts += [str(f.relative_to(root)).encode(), f.read_bytes()]
    return _digest(parts)[:16]


# -- layer and archive writing --------------------------------------------------------------------
def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _walk(root: Path, excludes: tuple[str, ...]) -> Iterator[str]:
    """Relative paths under root, parents first, sorted; excluded directories stay (empty)."""
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        prefix = "" if rel_dir == "." else rel_dir + "/"
        dirnames.sort()
        kept = []
        for d in dirnames:
            yield prefix + d
            full = Path(dirpath) / d
            if not (prefix + d + "/").startswith(excludes) and not full.is_symlink():
                kept.append(d)
        dirnames[:] = kept
        for f in sorted(filenames):
            yield prefix + f


def write_layer(root: Path, out: Path, members: Iterable[str]) -> Layer:
    """A tar of `members` (paths relative to root), written to `out`; returns its diff_id."""
    tmp = out.with_suffix(".tmp")
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        for rel in members:
            info = tar.gettarinfo(str(root / rel), arcname=rel)
            if info is None:  # sockets: nothing to carry
                continue
            if info.isreg():
                with open(root / rel, "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)
    tmp.rename(out)
    return Layer(out, "sha256:" + _sha256_file(out))


def _arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def write_docker_archive(out: Path, repo_tag: str, layers: list[Layer],
                         config: dict[str, object]) -> Path:
    """`docker save` format: manifest.json + config JSON + one tar per layer."""
    image_config = {
        "architecture": _arch(), "os": "linux", "created": "1970-01-01T00:00:00Z",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
        "history": [{"created_by": "star_devenv.image"} for _ in layers],
    }
    config_bytes = json.dumps(image_config, sort_keys=True).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    layer_names = [layer.diff_id.split(":", 1)[1] + "/layer.tar" for layer in layers]
    manifest = [{"Config": config_name, "RepoTags": [repo_tag], "Layers": layer_names}]
    tmp = out.with_suffix(".tmp")
    with tarfile.open(tmp, "w") as tar:
        for name, data in ((config_name, config_bytes),
                           ("manifest.json", json.dumps(manifest).encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, layer in zip(layer_names, layers, strict=True):
            tar.add(str(layer.path), arcname=name)
    tmp.rename(out)
    return out


def _run(argv: list[str], what: str, **kwargs: object) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-30:])
        raise ImageBuildError(f"{what} failed ({proc.returncode}):\n{tail}")
    return str(proc.stdout)


# -- the busybox image ----------------------------------------------------------------------------
def build_busybox_image() -> tuple[Path, str]:
    """`local/busybox:<hash>`: /bin/busybox and its applets; the default command sleeps forever,
    so the same image serves as the pod sandbox ("pause") image."""
    busybox = paths.system_binary("busybox")
    key = _digest([BUILDER_VERSION.encode(), busybox.read_bytes()])[:16]
    tag = f"{BUSYBOX_REPOSITORY}:{key}"
    out = images_dir() / f"busybox-{key}.tar"
    if out.exists():
        return out, tag
    with build_lock():
        if out.exists():
            return out, tag
        work = images_dir() / f"busybox-{key}.build"
        shutil.rmtree(work, ignore_errors=True)
        (work / "rootfs" / "bin").mkdir(parents=True)
        (work / "rootfs" / "tmp").mkdir(mode=0o1777)
        shutil.copy2(busybox, work / "rootfs" / "bin" / "busybox")
        applets = _run([str(busybox), "--list"], "busybox --list").split()
        for applet in applets:
            if applet != "busybox":
                (work / "rootfs" / "bin" / applet).symlink_to("busybox")
        members = ["bin", "tmp", "bin/busybox"] + [f"bin/{a}" for a in applets if a != "busybox"]
        layer = write_layer(work / "rootfs", work / "layer.tar", members)
        write_docker_archive(out, tag, [layer], {
            "Env": ["PATH=/bin"], "Cmd": ["/bin/sleep", "2147483647"], "WorkingDir": "/"})
        shutil.rmtree(work, ignore_errors=True)
    return out, tag


# -- the project image ----------------------------------------------------------------------------
def base_layer(mirror: str | None = None) -> tuple[Path, Layer]:
    """The debootstrapped rootfs (kept for building the app layer) and its layer tar; `mirror`
    overrides the Debian mirror (see debian_mirror)."""
    key = base_key()
    base = images_dir() / f"base-{key}"
    rootfs, layer_tar, diff_file = base / "rootfs", base / "layer.tar", base / "diff_id"
    if diff_file.exists():
        return rootfs, Layer(layer_tar, diff_file.read_text().strip())
    for stale in images_dir().glob("base-*"):
        shutil.rmtree(stale, ignore_errors=True)
    base.mkdir(parents=True)
    source = debian_mirror(mirror)
    if source.fallback:
        say(apt_sources.describe(source, SUITE))
    url = source.url
    say(f"debootstrap {SUITE} (minbase + {', '.join(BASE_PACKAGES)}) from {url} "
        f"({source.origin}): a few minutes, once")
    started = time.monotonic()
    argv = [str(paths.system_binary("debootstrap")), "--variant=minbase",
            f"--include={','.join(BASE_PACKAGES)}",
            SUITE, str(rootfs), url]
    keyring = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
    if keyring.exists():
        argv.insert(1, f"--keyring={keyring}")
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          stdin=subprocess.DEVNULL) as proc:
        assert proc.stdout is not None
        lines: list[str] = []
        for line in proc.stdout:
            lines.append(line.rstrip())
            if not PER_PACKAGE.match(line):  # one line per phase, not one per package
                say(f"  {line.strip()}")
    if proc.returncode != 0:
        tail = "\n".join(lines[-30:])
        shutil.rmtree(base, ignore_errors=True)
        raise ImageBuildError(f"debootstrap failed ({proc.returncode}):\n{tail}")
    uid = str(IMAGE_UID)
    _in_rootfs(rootfs, ["/usr/sbin/groupadd", "--system", "--gid", uid, IMAGE_USER], "groupadd")
    _in_rootfs(rootfs, ["/usr/sbin/useradd", "--system", "--uid", uid, "--gid", IMAGE_USER,
                        "--no-create-home", "--home-dir", "/nonexistent", IMAGE_USER], "useradd")
    say(f"debootstrap done in {time.monotonic() - started:.0f} s; writing the base layer")
    layer = write_layer(rootfs, layer_tar, _walk(rootfs, BASE_EXCLUDES))
    diff_file.write_text(layer.diff_id)
    return rootfs, layer


def deps_key(root: Path) -> str:
    return _digest([BUILDER_VERSION.encode(), base_key().encode(),
                    ("%d.%d" % sys.version_info[:2]).encode()]
                   + [d.encode() for d in dependencies(root)])[:16]


def _dependency_wheels(root: Path, key: str) -> Path:
    """Wheels of the project's dependencies (as pyproject states them), cached by that list."""
    deps = dependencies(root)
    wheels = images_dir() / f"wheels-{key}"
    if (wheels / ".complete").exists():
        return wheels
    for stale in images_dir().glob("wheels-*"):
        shutil.rmtree(stale, ignore_errors=True)
    say(f"downloading wheels for {len(deps)} dependencies from PyPI")
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(wheels), *deps],
         "pip wheel (dependencies)")
    (wheels / ".complete").touch()
    return wheels


def _chroot() -> str:
    return str(paths.system_binary("chroot"))


def _in_rootfs(rootfs: Path, argv: list[str], what: str) -> str:
    return _run([_chroot(), str(rootfs), *argv], what,
                env={"PATH": "/usr/bin:/bin", "HOME": "/root", "LANG": "C.UTF-8"})


def _pip_install(rootfs: Path, *args: str) -> None:
    _in_rootfs(rootfs, [f"{VENV}/bin/pip", "install", "--quiet", "--no-index", "--no-cache-dir",
                        "--disable-pip-version-check", "--find-links", WHEELS_IN_ROOTFS, *args],
               "pip install (inside the rootfs)")


@contextlib.contextmanager
def _staged_wheels(rootfs: Path, wheels: Path) -> Iterator[Path]:
    staging = rootfs / WHEELS_IN_ROOTFS.lstrip("/")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(wheels, staging, ignore=shutil.ignore_patterns(".complete"))
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def deps_layer(root: Path, rootfs: Path) -> Layer:
    """/opt/star: a venv with the dependencies only, cached by the dependency list. The venv
    stays in the cached rootfs (`deps_key` beside it says for which list) for the project layer."""
    key = deps_key(root)
    layer_tar, diff_file = images_dir() / f"deps-{key}.tar", images_dir() / f"deps-{key}.diff_id"
    installed = rootfs.parent / "deps_key"
    if diff_file.exists() and installed.exists() and installed.read_text() == key:
        return Layer(layer_tar, diff_file.read_text().strip())
    image_python, host_python = _image_python(rootfs), "%d.%d" % sys.version_info[:2]
    if image_python != host_python:
        raise ImageBuildError(f"the image has Python {image_python} but wheels are built with "
                              f"{host_python} ({sys.executable}): use the Debian {SUITE} venv")
    for stale in images_dir().glob("deps-*"):
        stale.unlink()
    installed.unlink(missing_ok=True)
    wheels = _dependency_wheels(root, key)
    venv = rootfs / VENV.lstrip("/")
    shutil.rmtree(venv, ignore_errors=True)
    say(f"installing the dependencies into {VENV} inside the rootfs")
    _in_rootfs(rootfs, ["/usr/bin/python3", "-m", "venv", VENV], "python3 -m venv")
    with _staged_wheels(rootfs, wheels):
        _pip_install(rootfs, *dependencies(root))
    rel_venv = VENV.lstrip("/")
    layer = write_layer(rootfs, layer_tar, ["opt", rel_venv, *_walk_under(rootfs, rel_venv)])
    diff_file.write_text(layer.diff_id)
    installed.write_text(key)
    return layer


def _image_python(rootfs: Path) -> str:
    return _in_rootfs(rootfs, ["/usr/bin/python3", "-c",
                               "import sys; print('%d.%d' % sys.version_info[:2])"],
                      "python3 in the rootfs").strip()


def project_layer(root: Path, rootfs: Path, out: Path) -> Layer:
    """The project's wheel installed (no dependencies) into the venv, entrypoints on PATH: only
    what the install added, so a source change rebuilds a small layer."""
    rel_venv = VENV.lstrip("/")
    before = set(_walk_under(rootfs, rel_venv))
    bin_dir = rootfs / "usr" / "local" / "bin"
    wheels = Path(tempfile.mkdtemp(prefix="star-wheel-", dir=images_dir()))
    added: list[str] = []
    try:
        say("building the project wheel")
        _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir",
              str(wheels), str(root)], "pip wheel (project)")
        wheel = next(wheels.glob("star_operator-*.whl")).name
        with _staged_wheels(rootfs, wheels):
            _pip_install(rootfs, "--no-deps", f"{WHEELS_IN_ROOTFS}/{wheel}")
        added = sorted(set(_walk_under(rootfs, rel_venv)) - before)
        for name in ENTRYPOINTS:
            (bin_dir / name).unlink(missing_ok=True)
            (bin_dir / name).symlink_to(f"{VENV}/bin/{name}")
        parents = sorted({str(Path(a).parent) for a in added} - {"."}, key=len)
        return write_layer(rootfs, out, [
            *(p for p in _with_ancestors(parents) if p not in added), *added,
            "usr", "usr/local", "usr/local/bin", *(f"usr/local/bin/{n}" for n in ENTRYPOINTS)])
    finally:
        # Leave the cached rootfs with the dependency venv only.
        for rel in reversed(added):
            path = rootfs / rel
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        for name in ENTRYPOINTS:
            (bin_dir / name).unlink(missing_ok=True)
        shutil.rmtree(wheels, ignore_errors=True)


def _with_ancestors(dirs: list[str]) -> list[str]:
    """Each directory and every ancestor, parents first, once."""
    seen: dict[str, None] = {}
    for d in dirs:
        parts = Path(d).parts
        for i in range(1, len(parts) + 1):
            seen.setdefault(str(Path(*parts[:i])), None)
    return sorted(seen, key=lambda p: (p.count("/"), p))


def _walk_under(rootfs: Path, rel: str) -> Iterator[str]:
    for sub in _walk(rootfs / rel, ()):
        yield f"{rel}/{sub}"


def build_image(root: Path | None = None, mirror: str | None = None) -> tuple[Path, str]:
    """Build (or reuse) the project image; return its docker-archive path and its tag. `mirror`
    is the Debian mirror for a base layer not yet cached (default: see debian_mirror).

    The tag is `local/star-operator:<content hash>`; containerd records it as
    `docker.io/local/star-operator:<hash>`, and a pod may use either spelling.
    """
    root = root or project_root()
    key = app_key(root)
    tag = f"{IMAGE_REPOSITORY}:{key}"
    out = images_dir() / f"star-operator-{key}.tar"
    if out.exists():
        say(f"{tag} is up to date ({out})")
        return out, tag
    started = time.monotonic()
    with build_lock():
        if out.exists():
            return out, tag
        rootfs, base = base_layer(mirror)
        deps = deps_layer(root, rootfs)
        work = Path(tempfile.mkdtemp(prefix="star-app-", dir=images_dir()))
        try:
            app = project_layer(root, rootfs, work / "layer.tar")
            say("writing the image archive")
            for stale in images_dir().glob("star-operator-*.tar"):
                stale.unlink()
            write_docker_archive(out, tag, [base, deps, app], {
                "Env": [PATH_ENV, "PYTHONUNBUFFERED=1", "LANG=C.UTF-8"],
                "Cmd": ["star-operator"], "WorkingDir": "/"})
        finally:
            shutil.rmtree(work, ignore_errors=True)
    say(f"built {tag} in {time.monotonic() - started:.0f} s ({out})")
    return out, tag


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m star_devenv.image",
        description="Build (or reuse) the project's image without Docker; print the archive "
                    "path and the tag.")
    parser.add_argument("--mirror", metavar="URL", default=None,
                        help=f"the Debian mirror to debootstrap {SUITE} from (default: "
                             f"${apt_sources.ENV_VAR}, else the machine's apt sources, else "
                             f"{apt_sources.FALLBACK})")
    args = parser.parse_args(argv)
    if args.mirror is not None and not apt_sources.usable(args.mirror):
        parser.error(f"--mirror: {args.mirror!r} is not a URL debootstrap can fetch from "
                     f"({', '.join(s + '://' for s in apt_sources.SCHEMES)})")
    try:
        path, tag = build_image(mirror=args.mirror)
    except ImageBuildError as error:
        print(f"[image] failed: {error}", file=sys.stderr)
        return 1
    print(f"{path}\n{tag}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

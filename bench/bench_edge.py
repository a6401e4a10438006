"""nginx reload-to-serving: from a Secret volume's swap to nginx serving the new certificate.

Run (under a minute; root, after the image's base layer is built, e.g. by the node tests or
`python -m star_devenv.image`):
  .venv/bin/python bench/bench_edge.py [--swaps 20] [--gap 1.0]

The edge of examples/cdn-edge.yaml without a cluster, to time nginx and its watcher alone
(the node e2e test times the same inside the pod, plus everything before it): its nginx.conf
(port adapted) and both containers' commands, unchanged, run from the image's cached rootfs
(Debian's nginx and inotify-tools) as uid 10001 in a private mount namespace with the pod's
mounts (/tls, /etc/edge, /tmp), so the paths are the manifest's. A writer updates /tls exactly
as the kubelet updates a Secret volume (its AtomicWriter: the files into a fresh `..<time>`
directory, a `..data_tmp` symlink to it renamed onto `..data`, the old directory removed).

For each swap: a request is begun on a TLS connection before it (the old worker must answer it
after the reload), the swap time t0 is taken right before the rename, and a client handshakes
back to back (SNI www.star.test, verified against the bench's CA) until it is served the new
certificate at t1. Printed: t1 - t0 per swap (p50, p90, max), handshakes and failed handshakes
during the run (must be 0), held requests answered (must be all), and the machine.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import math
import os
import platform
import shlex
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "operator"))

from star_devenv import edge, image, paths  # noqa: E402
from star_devenv.processes import free_port, wait_until  # noqa: E402

SERVER_NAME = "www.star.test"
UID = image.IMAGE_UID
# The pod's mounts: volume name -> path inside the container (examples/cdn-edge.yaml).
MOUNTS = {"tls": "/tls", "edge": "/etc/edge", "tmp": "/tmp"}


# -- certificates ---------------------------------------------------------------------------------
def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_ca() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(_name("bench edge CA"))
            .issuer_name(_name("bench edge CA")).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False,
                                         decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


def make_leaf(ca_key: ec.EllipticCurvePrivateKey, ca: x509.Certificate,
              key: ec.EllipticCurvePrivateKey) -> bytes:
    """A new certificate for the same key, as a STAR series is (one CSR, many certificates)."""
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(_name(SERVER_NAME))
            .issuer_name(ca.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(SERVER_NAME)]), False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                           False)
            .sign(ca_key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


# -- the kubelet's AtomicWriter -------------------------------------------------------------------
class SecretVolume:
    """A directory updated as the kubelet updates a Secret volume: every file of a version in
    a fresh `..<time>` directory, `..data_tmp` -> it renamed onto `..data`, the user-visible
    names symlinks through `..data`, the previous version removed."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.current: Path | None = None

    def write(self, files: dict[str, bytes]) -> float:
        """Publish a new version; returns the time (time.time()) right before the swap."""
        version = Path(tempfile.mkdtemp(
            prefix=dt.datetime.now(dt.timezone.utc).strftime("..%Y_%m_%d_%H_%M_%S."),
            dir=self.directory))
        version.chmod(0o755)
        for name, data in files.items():
            (version / name).write_bytes(data)
            (version / name).chmod(0o644)
        tmp_link = self.directory / "..data_tmp"
        tmp_link.symlink_to(version.name)
        swapped = time.time()
        os.rename(tmp_link, self.directory / "..data")
        for name in files:
            if not (self.directory / name).is_symlink():
                (self.directory / name).symlink_to(f"..data/{name}")
        if self.current is not None:
            shutil.rmtree(self.current)
        self.current = version
        return swapped


# -- the edge from the image's rootfs -------------------------------------------------------------
def edge_spec(port: int) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """The example's ConfigMap files (nginx.conf on `port`) and its containers by name."""
    docs = [d for d in yaml.safe_load_all(edge.EDGE_YAML.read_text()) if d]
    config = next(d for d in docs if d["kind"] == "ConfigMap")["data"]
    config = {**config, "nginx.conf": edge.nginx_conf(config["nginx.conf"], port, [SERVER_NAME])}
    pod = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]
    return config, {c["name"]: c for c in pod["containers"]}


def container_shell(container: dict[str, Any]) -> str:
    env = " ".join(f"{e['name']}={shlex.quote(e['value'])}" for e in container.get("env", []))
    return f"{env} {shlex.join(container['command'])}".strip()


def start_edge(rootfs: Path, work: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    """Both containers of the example's pod, in one private mount namespace with its mounts."""
    config, containers = edge_spec(port)
    for name, data in config.items():
        (work / "edge" / name).write_text(data)
    inside = " & ".join(container_shell(containers[n]) for n in ("nginx", "reloader")) \
        + " & wait"
    binds = []
    for volume, target in MOUNTS.items():
        (rootfs / target.lstrip("/")).mkdir(parents=True, exist_ok=True)
        binds.append(f"mount --bind {shlex.quote(str(work / volume))} "
                     f"{shlex.quote(str(rootfs / target.lstrip('/')))}")
    chroot = [str(paths.system_binary("chroot")), f"--userspec={UID}:{UID}", str(rootfs),
              "/usr/bin/env", "-i", f"PATH={image.PATH_ENV.split('=', 1)[1]}", "sh", "-c", inside]
    script = "set -e; " + "; ".join(binds) + "; exec " + shlex.join(chroot)
    with open(log, "wb") as out:
        return subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                                 script], stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in
                  Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return (f"{model}, {os.cpu_count()} cores, Linux {platform.release()}, "
            f"load average {load} at the start")


def run(swaps: int, gap: float) -> int:
    rootfs, _ = image.base_layer()
    nginx_version = subprocess.run(["chroot", str(rootfs), "nginx", "-v"], capture_output=True,
                                   text=True).stderr.strip()
    work = Path(tempfile.mkdtemp(prefix="star-bench-edge-"))
    work.chmod(0o755)  # the edge runs as uid 10001
    for volume in MOUNTS:
        (work / volume).mkdir(mode=0o755)
    os.chown(work / "tmp", UID, UID)
    port = free_port()
    ca_key, ca = make_ca()
    key = ec.generate_private_key(ec.SECP256R1())
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    volume = SecretVolume(work / "tls")
    volume.write({"tls.crt": make_leaf(ca_key, ca, key), "tls.key": key_pem})
    prober = edge.Prober(port, SERVER_NAME, ca.public_bytes(serialization.Encoding.PEM).decode(),
                         on_new=lambda n, seen: None, interval=0)
    log = work / "edge.log"
    proc = start_edge(rootfs, work, port, log)
    lags: list[float] = []
    failed = answered = 0
    try:
        wait_until(lambda: prober.handshake() is not None, 30, "nginx serving", interval=0.1)
        for _ in range(swaps):
            certificate = make_leaf(ca_key, ca, key)
            serial = x509.load_pem_x509_certificate(certificate).serial_number
            held = edge.HeldRequest(prober)
            swapped = volume.write({"tls.crt": certificate, "tls.key": key_pem})
            deadline = time.monotonic() + 30
            while serial not in prober.seen:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"nginx did not serve the new certificate in 30 s\n"
                                       f"{log.read_text()[-3000:]}")
                try:
                    prober.handshake()
                except (ssl.SSLError, OSError):
                    failed += 1
            lags.append(prober.seen[serial].first_seen - swapped)
            answered += held.finish().startswith("HTTP/1.1 200")
            time.sleep(gap)  # let the old worker go, as between real renewals
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
        edge_log = log.read_text(errors="replace")
        shutil.rmtree(work, ignore_errors=True)
        for target in MOUNTS.values():
            if target != "/tmp":
                with contextlib.suppress(OSError):  # a mount point only in the edge's namespace
                    (rootfs / target.lstrip("/")).rmdir()
    reloads = edge_log.count("reloaded nginx for")
    print(f"[bench edge] machine: {machine()}")
    print(f"[bench edge] {nginx_version}; {swaps} Secret volume swaps, {reloads} reloads by the "
          f"watcher, {prober.handshakes} handshakes, {failed} failed, "
          f"{answered}/{swaps} requests begun before a reload answered after it")
    print(f"[bench edge] swap -> new certificate served: p50 {percentile(lags, 50) * 1000:.0f} ms, "
          f"p90 {percentile(lags, 90) * 1000:.0f} ms, max {max(lags) * 1000:.0f} ms "
          f"(each: {', '.join(f'{x * 1000:.0f}' for x in lags)})")
    return 0 if failed == 0 and answered == swaps and reloads >= swaps else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--swaps", type=int, default=20, help="Secret volume updates")
    parser.add_argument("--gap", type=float, default=1.0,
                        help="seconds between one swap being served and the next swap")
    args = parser.parse_args()
    return run(args.swaps, args.gap)


if __name__ == "__main__":
    raise SystemExit(main())

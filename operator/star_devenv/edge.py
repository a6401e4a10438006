"""The CDN edge of examples/cdn-edge.yaml on a LocalNode, and a TLS client of it.

`deploy()` runs the edge (host network, a loopback port, the project's image) mounting a
StarOrder's Secret; `Prober` connects with TLS (SNI = the delegated name, verified against the CA
root) and records every distinct certificate the edge serves. Used by the node e2e test and the
demo.
"""
from __future__ import annotations

import datetime as dt
import json
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509

from star_devenv.kubectl import Kubectl
from star_devenv.processes import wait_until

EDGE_YAML = Path(__file__).resolve().parents[2] / "examples" / "cdn-edge.yaml"
PROBE_INTERVAL = 0.2    # pacing of the TLS probe loop


def manifests(ns: str, image: str, port: int, secret: str) -> str:
    """examples/cdn-edge.yaml for this run: namespace, image, port, Secret."""
    docs = [d for d in yaml.safe_load_all(EDGE_YAML.read_text()) if d]
    for d in docs:
        d["metadata"]["namespace"] = ns
        if d["kind"] != "Deployment":
            continue
        pod = d["spec"]["template"]["spec"]
        pod["terminationGracePeriodSeconds"] = 1
        c = pod["containers"][0]
        c["image"], c["imagePullPolicy"] = image, "Never"
        for env in c["env"]:
            if env["name"] == "LISTEN":
                env["value"] = f"127.0.0.1:{port}"
        c["readinessProbe"]["tcpSocket"]["port"] = port
        for v in pod["volumes"]:
            if "secret" in v:
                v["secret"]["secretName"] = secret
    return "\n---\n".join(json.dumps(d) for d in docs)


def deploy(kubectl: Kubectl, ns: str, image: str, port: int, secret: str,
           timeout: float = 120) -> None:
    """Apply the edge and wait until its container runs (it listens once the Secret exists)."""
    kubectl.run("apply", "-f", "-", input=manifests(ns, image, port, secret))

    def running() -> bool:
        pods = kubectl.get_json("pods", "-n", ns, "-l", "app=cdn-edge")["items"]
        return bool(pods) and all(s.get("state", {}).get("running") for p in pods
                                  for s in p["status"].get("containerStatuses") or [{}])
    wait_until(running, timeout, "the edge container running (waiting for its Secret)",
               interval=0.5)


@dataclass
class Seen:
    serial: int
    not_before: dt.datetime
    not_after: dt.datetime
    first_seen: float  # time.time()
    last_seen: float


def print_new(index: int, seen: Seen) -> None:
    print(f"edge serves certificate #{index} serial {seen.serial:x} "
          f"notBefore {seen.not_before:%H:%M:%S} notAfter {seen.not_after:%H:%M:%S} "
          f"first seen {dt.datetime.fromtimestamp(seen.first_seen, dt.timezone.utc):%H:%M:%S.%f}")


@dataclass
class Prober:
    """TLS handshakes with the edge, SNI = the delegated name, verified against the CA root.
    `on_new(n, seen)` is called for the n-th distinct certificate (1-based)."""
    port: int
    server_name: str
    root_pem: str
    on_new: Callable[[int, Seen], None] = print_new
    seen: dict[int, Seen] = field(default_factory=dict)
    order: list[int] = field(default_factory=list)
    handshakes: int = 0

    def __post_init__(self) -> None:
        self.ctx = ssl.create_default_context(cadata=self.root_pem)

    def handshake(self) -> Seen | None:
        """The certificate served; None if the edge does not listen yet (connection refused).
        A failed TLS handshake raises."""
        try:
            raw = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        except ConnectionRefusedError:
            return None
        with raw, self.ctx.wrap_socket(raw, server_hostname=self.server_name) as tls:
            der = tls.getpeercert(binary_form=True)
        assert der is not None
        now = time.time()
        cert = x509.load_der_x509_certificate(der)
        self.handshakes += 1
        s = self.seen.get(cert.serial_number)
        if s is None:
            s = self.seen[cert.serial_number] = Seen(
                cert.serial_number, cert.not_valid_before_utc,
                cert.not_valid_after_utc, now, now)
            self.order.append(cert.serial_number)
            self.on_new(len(self.order), s)
        s.last_seen = now
        return s

    def until(self, done: Callable[[], Any], timeout: float, what: str) -> None:
        """Probe every PROBE_INTERVAL seconds until done(); every handshake must succeed."""
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() >= deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {what} "
                                     f"({len(self.order)} certificates seen)")
            try:
                if self.handshake() is None and self.order:
                    raise AssertionError("the edge stopped listening after it had served")
            except (ssl.SSLError, OSError) as exc:
                raise AssertionError(
                    f"handshake {self.handshakes + 1} with the edge failed after "
                    f"{len(self.order)} certificates: {exc!r}") from exc
            time.sleep(PROBE_INTERVAL)


def star_certificate_problem(url: str, root_pem: str) -> dict[str, Any]:
    """GET the star-certificate URL without authentication (RFC 8739 §3.3); the problem
    document it answers with (status included)."""
    ctx = ssl.create_default_context(cadata=root_pem)
    try:
        with urllib.request.urlopen(url, timeout=10, context=ctx) as resp:
            return {"status": resp.status, "type": "(a certificate)"}
    except urllib.error.HTTPError as exc:
        return {**json.loads(exc.read() or b"{}"), "status": exc.code}

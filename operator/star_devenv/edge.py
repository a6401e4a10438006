"""The CDN edge of examples/cdn-edge.yaml on a LocalNode, and a TLS client of it.

`deploy()` runs the edge (nginx and its reload-on-change watcher, host network, a loopback port,
the project's image) mounting a StarOrder's Secret; `Prober` connects with TLS (SNI = the
delegated name, verified against the CA root) and records every distinct certificate the edge
serves (and, `keeps_until_expiry`, that it keeps the last one); `HeldRequest` keeps one
request open across a reload; `reload_events()` reads when the
watcher saw each new version of the Secret volume. Used by the node e2e test and the demo.
"""
from __future__ import annotations

import datetime as dt
import json
import re
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
from star_devenv.node import POD_LOG_DIR
from star_devenv.processes import wait_until

EDGE_YAML = Path(__file__).resolve().parents[2] / "examples" / "cdn-edge.yaml"
PROBE_INTERVAL = 0.2    # pacing of the TLS probe loop
EXAMPLE_LISTEN = "127.0.0.1:8443"
SERVER_NAME_LINE = re.compile(r"^(\s*)server_name [^;]+;$", re.MULTILINE)
#: What the watcher prints when the kubelet has swapped the volume's `..data` link.
VOLUME_SWAPPED = "Secret volume now at "


def nginx_conf(conf: str, port: int, server_names: list[str]) -> str:
    """The example's nginx.conf listening on 127.0.0.1:`port`, serving `server_names`."""
    if EXAMPLE_LISTEN not in conf or len(SERVER_NAME_LINE.findall(conf)) != 1:
        raise ValueError(f"{EDGE_YAML}: nginx.conf no longer has `listen {EXAMPLE_LISTEN}` "
                         "and one server_name line to adapt")
    conf = conf.replace(EXAMPLE_LISTEN, f"127.0.0.1:{port}")
    return SERVER_NAME_LINE.sub(lambda m: f"{m.group(1)}server_name {' '.join(server_names)};",
                                conf)


def manifests(ns: str, image: str, port: int, secret: str, server_names: list[str]) -> str:
    """examples/cdn-edge.yaml for this run: namespace, image, port, Secret, SNI names."""
    docs = [d for d in yaml.safe_load_all(EDGE_YAML.read_text()) if d]
    for d in docs:
        d["metadata"]["namespace"] = ns
        if d["kind"] == "ConfigMap":
            d["data"]["nginx.conf"] = nginx_conf(d["data"]["nginx.conf"], port, server_names)
        if d["kind"] != "Deployment":
            continue
        pod = d["spec"]["template"]["spec"]
        pod["terminationGracePeriodSeconds"] = 1
        pod["containers"] = [{**c, "image": image, "imagePullPolicy": "Never"}
                             for c in pod["containers"]]
        for c in pod["containers"]:
            if "readinessProbe" in c:
                c["readinessProbe"] = {**c["readinessProbe"], "tcpSocket": {"port": port}}
        for v in pod["volumes"]:
            if "secret" in v:
                v["secret"]["secretName"] = secret
    return "\n---\n".join(json.dumps(d) for d in docs)


def deploy(kubectl: Kubectl, ns: str, image: str, port: int, secret: str,
           server_names: list[str], timeout: float = 120) -> None:
    """Apply the edge and wait until its containers run (nginx listens once the Secret holds a
    certificate)."""
    kubectl.run("apply", "-f", "-", input=manifests(ns, image, port, secret, server_names))

    def running() -> bool:
        pods = kubectl.get_json("pods", "-n", ns, "-l", "app=cdn-edge")["items"]
        return bool(pods) and all(s.get("state", {}).get("running") for p in pods
                                  for s in p["status"].get("containerStatuses") or [{}])
    wait_until(running, timeout, "the edge containers running", interval=0.5)


def reload_events(ns: str) -> list[float]:
    """When (time.time()) the edge's watcher saw each new version of the Secret volume: the
    container runtime's timestamp of its log line, from the kubelet's log files."""
    events = []
    for path in sorted(POD_LOG_DIR.glob(f"{ns}_cdn-edge-*/reloader/*.log")):
        for line in path.read_text(errors="replace").splitlines():
            stamp, _, rest = line.partition(" ")
            if VOLUME_SWAPPED in rest:
                events.append(dt.datetime.fromisoformat(stamp).timestamp())
    return sorted(events)


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
    interval: float = PROBE_INTERVAL
    seen: dict[int, Seen] = field(default_factory=dict)
    order: list[int] = field(default_factory=list)
    handshakes: int = 0

    def __post_init__(self) -> None:
        self.ctx = ssl.create_default_context(cadata=self.root_pem)

    def connect(self, server_name: str | None = None) -> ssl.SSLSocket | None:
        """A TLS connection with SNI `server_name` (default: the delegated name); None if the
        edge does not listen yet (connection refused). A failed TLS handshake raises."""
        try:
            raw = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        except ConnectionRefusedError:
            return None
        try:
            return self.ctx.wrap_socket(raw, server_hostname=server_name or self.server_name)
        except BaseException:
            raw.close()
            raise

    def refuses(self, server_name: str) -> bool:
        """Whether the edge refuses a handshake for a name it has no certificate for."""
        try:
            tls = self.connect(server_name)
        except ssl.SSLCertVerificationError:
            return False  # it served a certificate (for other names)
        except ssl.SSLError:
            return True
        if tls is not None:
            tls.close()
        return False

    def record(self, der: bytes) -> Seen:
        """Note the certificate of one successful handshake."""
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

    def handshake(self) -> Seen | None:
        """The certificate served; None if the edge does not listen yet (connection refused).
        A failed TLS handshake raises."""
        tls = self.connect()
        if tls is None:
            return None
        with tls:
            der = tls.getpeercert(binary_form=True)
        assert der is not None
        return self.record(der)

    def until(self, done: Callable[[], Any], timeout: float, what: str) -> None:
        """Probe every `interval` seconds until done(); every handshake must succeed."""
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
            time.sleep(self.interval)

    def keeps_until_expiry(self, last: x509.Certificate, margin: float = 2,
                           timeout: float = 30) -> Seen:
        """Probe until the edge serves `last` (the final certificate its Secret holds, within
        `timeout`), then until `margin` seconds before `last` expires: every handshake must
        succeed and, from the first one that saw `last`, see nothing else. What was seen of
        `last`."""
        not_after = last.not_valid_after_utc.timestamp()
        self.until(lambda: last.serial_number in self.seen, timeout,
                   "the edge to serve the Secret's last certificate")
        kept = self.seen[last.serial_number]
        self.until(lambda: kept.last_seen >= not_after - margin, not_after - time.time() + 5,
                   "the last certificate's expiry")
        late = [s for s in self.seen.values()
                if s.serial != kept.serial and s.last_seen > kept.first_seen]
        assert not late, f"the edge went back to another certificate: {late}"
        return kept


class HeldRequest:
    """An HTTP request begun on a TLS connection and finished later: across a reload, the
    old nginx worker holding it must answer it before it exits (a graceful reload). Half a
    request line, not an idle keep-alive connection: nginx closes idle ones at a reload, as
    HTTP allows, but finishes a request it has started reading."""

    def __init__(self, prober: Prober) -> None:
        tls = prober.connect()
        if tls is None:
            raise AssertionError("the edge does not listen")
        self.tls = tls
        der = tls.getpeercert(binary_form=True)
        assert der is not None
        self.serial = prober.record(der).serial
        tls.sendall(f"GET / HTTP/1.1\r\nHost: {prober.server_name}\r\n".encode())

    def finish(self) -> str:
        """End the request; the status line of the answer."""
        with self.tls:
            self.tls.sendall(b"Connection: close\r\n\r\n")
            answer = b""
            while b"\r\n" not in answer:
                chunk = self.tls.recv(4096)
                if not chunk:
                    break
                answer += chunk
        return answer.split(b"\r\n", 1)[0].decode(errors="replace")


def star_certificate_problem(url: str, root_pem: str) -> dict[str, Any]:
    """GET the star-certificate URL without authentication (RFC 8739 §3.3); the problem
    document it answers with (status included)."""
    ctx = ssl.create_default_context(cadata=root_pem)
    try:
        with urllib.request.urlopen(url, timeout=10, context=ctx) as resp:
            return {"status": resp.status, "type": "(a certificate)"}
    except urllib.error.HTTPError as exc:
        return {**json.loads(exc.read() or b"{}"), "status": exc.code}

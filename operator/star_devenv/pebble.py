"""`LocalPebble`: Debian's Pebble (Let's Encrypt's test ACME server) as a subprocess for tests.

Pebble is an ACME CA nobody here wrote: RFC 8555 only (no STAR, no profiles, no ARI), and it
deliberately misbehaves the way real CAs may (5 % of good nonces rejected as ``badNonce``, valid
authorizations reused half of the time). Tests run the operator's client against it to learn
whether the client works with *any* CA and not only with ``star_ca``.

Everything Pebble needs lives in a private temporary directory: a JSON configuration with two
free loopback ports (ACME and management listener) and a self-signed HTTPS serving certificate,
which is the trust anchor of both listeners. Pebble generates a fresh issuing root at every
start and only tells it through its management interface, hence ``issuer_roots_pem()``.
Teardown stops exactly the process started here, by PID.
"""
from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import tempfile
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from cryptography import x509
from requests.utils import parse_header_links

from star_devenv.paths import system_binary
from star_devenv.pki import write_self_signed_server_cert
from star_devenv.processes import StartupError, free_port, spawn, stop_pid, wait_until

__all__ = ["LocalPebble", "StartupError"]

HOST = "127.0.0.1"


class LocalPebble:
    """``pebble -config ... -dnsserver <dns_server>`` on 127.0.0.1 with ``PEBBLE_VA_NOSLEEP=1``.

    `dns_server` ("host:port") is where Pebble resolves dns-01 TXT records: the harness's
    BIND 9, so a solver's RFC 2136 update is what Pebble sees. `env` adds or overrides Pebble
    variables (``PEBBLE_AUTHZREUSE``, ``PEBBLE_ALTERNATE_ROOTS``, ...); inherited ``PEBBLE_*``
    variables are dropped so the caller's shell cannot change what a test runs against. The
    default 5 % ``badNonce`` rejection stays on unless `env` sets ``PEBBLE_WFE_NONCEREJECT``.
    """

    def __init__(self, *, dns_server: str, env: Mapping[str, str] | None = None,
                 start_timeout: float = 30.0) -> None:
        self.dns_server = dns_server
        self.env = {"PEBBLE_VA_NOSLEEP": "1", **(env or {})}
        self.start_timeout = start_timeout
        self.workdir = Path(tempfile.mkdtemp(prefix="star-pebble-"))
        self.port, self.management_port = free_port(HOST), free_port(HOST)
        self.log_path = self.workdir / "pebble.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def directory_url(self) -> str:
        return f"https://{HOST}:{self.port}/dir"

    @property
    def management_url(self) -> str:
        return f"https://{HOST}:{self.management_port}"

    @property
    def tls_root_pem(self) -> str:
        """The HTTPS trust anchor of both listeners (the self-signed serving certificate)."""
        return (self.workdir / "tls-cert.pem").read_text()

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cadata=self.tls_root_pem)

    def _get(self, url: str) -> tuple[bytes, list[str]]:
        """Body and ``Link`` headers of a verified HTTPS GET."""
        with urllib.request.urlopen(url, context=self.ssl_context(), timeout=5) as resp:
            return resp.read(), resp.headers.get_all("Link") or []

    def issuer_roots_pem(self) -> str:
        """PEM of the issuing root(s): ``/roots/0`` plus its ``rel="alternate"`` links, which
        exist when ``PEBBLE_ALTERNATE_ROOTS`` asks Pebble for more than one chain."""
        body, links = self._get(f"{self.management_url}/roots/0")
        pems = [body.decode("ascii")]
        for header in links:
            for link in parse_header_links(header):
                if link.get("rel") == "alternate":
                    pems.append(self._get(link["url"])[0].decode("ascii"))
        return "".join(pems)

    def trust_bundle_pem(self) -> str:
        """What a CsrTemplate's caBundle Secret holds so that both the HTTPS connection and the
        issued chain verify: the TLS root followed by the issuing root(s)."""
        return self.tls_root_pem + self.issuer_roots_pem()

    def revocation_status(self, cert_pem_or_serial: str | int) -> str:
        """Pebble's own view of a certificate (PEM, or serial as int or hex string):
        ``"Valid"``, ``"Revoked"``, or ``"Revoked (reason N)"`` when a reason was given.

        Raises `LookupError` for a serial Pebble never issued (its management answer is 404).
        """
        serial = _serial_hex(cert_pem_or_serial)
        try:
            body, _ = self._get(f"{self.management_url}/cert-status-by-serial/{serial}")
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                raise LookupError(f"Pebble has no certificate with serial {serial}") from exc
            raise
        doc = json.loads(body)
        if doc.get("Reason") is None:
            return str(doc["Status"])
        return f"{doc['Status']} (reason {doc['Reason']})"

    def _write_config(self) -> Path:
        cert, key = self.workdir / "tls-cert.pem", self.workdir / "tls-key.pem"
        write_self_signed_server_cert(cert, key, ["localhost"], [HOST])
        config = {"pebble": {
            "listenAddress": f"{HOST}:{self.port}",
            "managementListenAddress": f"{HOST}:{self.management_port}",
            "certificate": str(cert),
            "privateKey": str(key),
        }}
        path = self.workdir / "pebble-config.json"
        path.write_text(json.dumps(config, indent=2))
        return path

    def _process_env(self) -> dict[str, str]:
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("PEBBLE_")}
        return {**inherited, **self.env}

    def _ready(self) -> bool:
        directory = json.loads(self._get(self.directory_url)[0])
        return bool(directory.get("newNonce")) and bool(self.issuer_roots_pem())

    def start(self) -> LocalPebble:
        if self._proc is not None and self._proc.poll() is None:
            raise RuntimeError("LocalPebble already running")
        self.workdir.mkdir(parents=True, exist_ok=True)
        argv = [str(system_binary("pebble")), "-config", str(self._write_config()),
                "-dnsserver", self.dns_server]
        self._proc = spawn(argv, self.log_path, env=self._process_env(), cwd=self.workdir)
        try:
            wait_until(self._ready, self.start_timeout, "pebble directory and management",
                       proc=self._proc, log_path=self.log_path)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL) and remove the private directory."""
        if self._proc is not None:
            stop_pid(self._proc.pid)
            self._proc.wait(10)
            self._proc = None
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> LocalPebble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _serial_hex(cert_pem_or_serial: str | int) -> str:
    """The serial as Pebble's management interface wants it: lower-case hex, no ``0x``."""
    if isinstance(cert_pem_or_serial, int):
        return format(cert_pem_or_serial, "x")
    if "-----BEGIN" in cert_pem_or_serial:
        leaf = x509.load_pem_x509_certificates(cert_pem_or_serial.encode())[0]
        return format(leaf.serial_number, "x")
    return cert_pem_or_serial.lower().removeprefix("0x")

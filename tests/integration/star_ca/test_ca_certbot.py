"""Interop: certbot (PyPI), an ACME client nobody here wrote, completes a plain RFC 8555
issuance against the real CA over HTTPS, answering dns-01 through its RFC 2136 plugin against
the real BIND 9, and then revokes the certificate it got. The CA must record the revocation:
a second revocation, by the certificate's own key this time, answers ``alreadyRevoked``."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import josepy as jose
import pytest
from ca_testclient import Client, unique
from cryptography import x509
from cryptography.hazmat.primitives import serialization

CERTBOT = Path(sys.executable).with_name("certbot")
ERR = "urn:ietf:params:acme:error:"

pytestmark = pytest.mark.skipif(not CERTBOT.exists(), reason="certbot not installed in the venv")


def _certbot(ca: Any, tmp: Path, *args: str,
             timeout: float = 180) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HTTP_PROXY", "HTTPS_PROXY",
                                                                   "http_proxy", "https_proxy"))}
    env["REQUESTS_CA_BUNDLE"] = str(ca.root_pem_path)
    argv = [str(CERTBOT), *args, "--server", ca.directory_url,
            "--config-dir", str(tmp / "config"), "--work-dir", str(tmp / "work"),
            "--logs-dir", str(tmp / "logs"), "--non-interactive"]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:  # certbot's own log has the ACME exchange; show its tail
        log = tmp / "logs" / "letsencrypt.log"
        tail = log.read_text(errors="replace")[-6000:] if log.exists() else "(no log)"
        print(f"certbot {args[0]} failed:\n{proc.stdout}\n{proc.stderr}\n--- log ---\n{tail}")
    return proc


def _credentials(dns_server: Any, path: Path) -> Path:
    path.write_text(
        f"dns_rfc2136_server = {dns_server.host}\n"
        f"dns_rfc2136_port = {dns_server.port}\n"
        f"dns_rfc2136_name = {dns_server.tsig_key_name}\n"
        f"dns_rfc2136_secret = {dns_server.tsig_secret}\n"
        "dns_rfc2136_algorithm = HMAC-SHA256\n")
    path.chmod(0o600)
    return path


def test_certbot_dns01_issuance_and_revocation(ca: Any, dns_server: Any, tmp_path: Path) -> None:
    name = unique("certbot")
    creds = _credentials(dns_server, tmp_path / "rfc2136.ini")

    issued = _certbot(
        ca, tmp_path, "certonly", "--agree-tos", "--register-unsafely-without-email",
        "--authenticator", "dns-rfc2136", "--dns-rfc2136-credentials", str(creds),
        "--dns-rfc2136-propagation-seconds", "1",  # certbot's own wait before answering
        "--key-type", "ecdsa", "--cert-name", "interop", "-d", name)
    assert issued.returncode == 0, issued.stderr

    live = tmp_path / "config" / "live" / "interop"
    chain = x509.load_pem_x509_certificates((live / "fullchain.pem").read_bytes())
    leaf, intermediate = chain[0], chain[1]
    root = x509.load_pem_x509_certificate(ca.root_pem_path.read_bytes())
    leaf.verify_directly_issued_by(intermediate)
    intermediate.verify_directly_issued_by(root)
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [name]
    key = serialization.load_pem_private_key((live / "privkey.pem").read_bytes(), None)
    assert leaf.public_key().public_numbers() == key.public_key().public_numbers()  # type: ignore[union-attr]
    # certbot cleaned up its TXT record through RFC 2136
    assert dns_server.query(f"_acme-challenge.{name}", "TXT") == []

    revoked = _certbot(ca, tmp_path, "revoke", "--cert-path", str(live / "cert.pem"),
                       "--reason", "keycompromise", "--no-delete-after-revoke")
    assert revoked.returncode == 0, revoked.stderr

    # The CA recorded it: the certificate's own key (RFC 8555 §7.6, jwk form) gets
    # alreadyRevoked rather than success.
    cert_key = jose.JWKEC(key=key)
    client = Client(ca.directory_url, str(ca.root_pem_path), key=cert_key)
    der = leaf.public_bytes(serialization.Encoding.DER)
    r = client.post(client.directory["revokeCert"],
                    {"certificate": jose.encode_b64jose(der)}, kid=None)
    assert r.status_code == 400, r.text
    assert r.json()["type"] == ERR + "alreadyRevoked"
    db = sqlite3.connect(f"file:{ca.data_dir / 'star-ca.sqlite3'}?mode=ro", uri=True)
    try:
        (reason,), = db.execute("SELECT revoked_reason FROM certs WHERE serial=?",
                                (format(leaf.serial_number, "x"),))
    finally:
        db.close()
    assert reason == 1  # keyCompromise, as certbot sent it

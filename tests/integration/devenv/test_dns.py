"""Smoke tests proving the local DNS harness is a real BIND 9 that enforces TSIG."""
from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.tsig
import dns.update
import pytest

from star_devenv import dns as devdns
from star_devenv.dns import LocalDNS
from star_devenv.processes import is_alive

pytestmark = pytest.mark.dns


def _txt_update(zone: str, name: str, value: str, **kw) -> dns.update.UpdateMessage:
    update = dns.update.UpdateMessage(zone, **kw)
    update.add(name, 60, "TXT", f'"{value}"')
    return update


def test_signed_update_is_served_and_unsigned_update_is_refused(dns_server: LocalDNS) -> None:
    key = dns.tsig.Key(dns_server.tsig_key_name, dns_server.tsig_secret, dns_server.tsig_algorithm)
    signed = dns.update.UpdateMessage(dns_server.zone, keyring=key)
    signed.add("smoke-signed", 60, "TXT", '"hello from a signed update"')
    response = dns.query.tcp(signed, dns_server.host, port=dns_server.port, timeout=5)
    assert response.rcode() == dns.rcode.NOERROR
    # the response is TSIG-signed by the server and verified by dnspython
    assert response.had_tsig

    query = dns.message.make_query(f"smoke-signed.{dns_server.zone}", "TXT")
    answer = dns.query.udp(query, dns_server.host, port=dns_server.port, timeout=5)
    assert answer.flags & dns.flags.AA
    assert [r.to_text() for r in answer.answer[0]] == ['"hello from a signed update"']

    unsigned = _txt_update(dns_server.zone, "smoke-unsigned", "nobody")
    response = dns.query.tcp(unsigned, dns_server.host, port=dns_server.port, timeout=5)
    assert response.rcode() == dns.rcode.REFUSED
    assert dns_server.query("smoke-unsigned", "TXT") == []


def test_update_signed_with_an_unknown_secret_is_rejected(dns_server: LocalDNS) -> None:
    wrong = dns.tsig.Key(
        dns_server.tsig_key_name, base64.b64encode(secrets.token_bytes(32)).decode(), "hmac-sha256"
    )
    update = _txt_update(dns_server.zone, "smoke-badsig", "x", keyring=wrong)
    with pytest.raises(dns.tsig.PeerBadSignature):
        dns.query.tcp(update, dns_server.host, port=dns_server.port, timeout=5)
    assert dns_server.query("smoke-badsig", "TXT") == []


def test_caa_record_set_by_a_test_is_served(dns_server: LocalDNS) -> None:
    values = [
        '0 issue "star-ca.test; accounturi=https://ca.test/acct/1; validationmethods=dns-01"',
        '0 iodef "mailto:security@star.test"',
    ]
    dns_server.set_caa("caa-smoke", values)
    served = dns_server.query(f"caa-smoke.{dns_server.zone}.", "CAA")
    assert sorted(served) == sorted(values)

    dns_server.set_caa("caa-smoke", values[:1])
    assert dns_server.query("caa-smoke", "CAA") == values[:1]

    dns_server.delete_rrset("caa-smoke", "CAA")
    assert dns_server.query("caa-smoke", "CAA") == []


def test_second_zone_is_served_and_updatable(dns_server: LocalDNS) -> None:
    dns_server.set_records("cname-src", "CNAME", ["target.delegate.test."])
    dns_server.set_records("target.delegate.test", "TXT", ['"t"'])
    assert dns_server.query("cname-src", "CNAME") == ["target.delegate.test."]
    assert dns_server.query("target.delegate.test", "TXT") == ['"t"']


def test_context_manager_kills_named_and_removes_files_even_on_error() -> None:
    with pytest.raises(RuntimeError, match="boom"):
        with LocalDNS("cleanup.test") as server:
            pid, workdir = server.pid, server.workdir
            assert server.query("@", "SOA")
            raise RuntimeError("boom")
    assert pid is not None and workdir is not None
    assert not is_alive(pid)
    assert not workdir.exists()


def test_standalone_up_status_down(tmp_path) -> None:
    state_dir = tmp_path / "env"
    proc = subprocess.run(
        [sys.executable, "-m", "star_devenv.dns", "up", "--state-dir", str(state_dir)],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    try:
        info = devdns.status(state_dir)
        assert info["running"] is True
        pid = info["pid"]
        # the server outlived the process that started it and takes signed updates
        server = LocalDNS.from_state(info)
        server.set_records("standalone", "TXT", ['"up"'])
        assert server.query("standalone", "TXT") == ['"up"']
        # a second `up` reuses the running server
        assert devdns.up(state_dir)["pid"] == pid
    finally:
        proc = subprocess.run(
            [sys.executable, "-m", "star_devenv.dns", "down", "--state-dir", str(state_dir)],
            capture_output=True, text=True, timeout=60,
        )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "stopped"
    assert not is_alive(pid)
    assert not (state_dir / "dns").exists()
    assert devdns.status(state_dir)["running"] is False
    assert os.listdir(state_dir) == []

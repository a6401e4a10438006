"""A real BIND 9 authoritative server on loopback for tests and the demo.

`LocalDNS` runs Debian's ``named`` in the foreground (``named -g``) with every file it needs in a
private directory: a configuration, one zone file per zone and a TSIG key (hmac-sha256, random
secret) that is the only thing allowed to change the zones by RFC 2136 dynamic update. Unsigned
updates are refused. All record changes made by the helpers go through dnspython (``dns.update``
signed with the TSIG key, sent with ``dns.query.tcp``); nothing here builds DNS wire format by hand.

Use it as a context manager (tests), or through the standalone functions ``up`` / ``down`` /
``status`` that keep the server's PID and settings in ``<state_dir>/dns.json`` (demo, debugging)::

    python -m star_devenv.dns up --state-dir /tmp/star-env
    python -m star_devenv.dns status --state-dir /tmp/star-env
    python -m star_devenv.dns down --state-dir /tmp/star-env
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.tsig
import dns.update

from star_devenv.paths import default_state_dir, system_binary
from star_devenv.processes import StartupError, is_alive, log_tail, spawn, stop_pid, wait_until

__all__ = [
    "DNSHarnessError",
    "LocalDNS",
    "down",
    "find_named",
    "status",
    "up",
]

DEFAULT_ZONE = "star.test"
DEFAULT_TTL = 60
STATE_FILE = "dns.json"
STATE_SUBDIR = "dns"


class DNSHarnessError(StartupError):
    """The local BIND 9 server could not be started, reached or updated."""


def find_named() -> str:
    """Path of the ``named`` binary (Debian's bind9 package puts it in /usr/sbin)."""
    try:
        return str(system_binary("named"))
    except FileNotFoundError as exc:
        raise DNSHarnessError(
            f"BIND 9: {exc} (Debian package bind9; or: apt-get install -y bind9 bind9-utils)"
        ) from exc


def _free_port(host: str) -> int:
    """A port that is free for both UDP and TCP on ``host`` right now."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((host, 0))
            port = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((host, port))
                except OSError:
                    continue
                return port
    raise DNSHarnessError(f"no free UDP+TCP port on {host}")


def _pid_is_our_named(pid: int, conf_path: str) -> bool:
    """True if ``pid`` is a live ``named`` started with ``conf_path`` (guards against PID reuse)."""
    if not is_alive(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    args = [a.decode(errors="replace") for a in cmdline if a]
    return bool(args) and os.path.basename(args[0]) == "named" and conf_path in args


class LocalDNS:
    """BIND 9 serving ``zone`` (and ``extra_zones``) on ``host:port``, updatable with a TSIG key.

    Attributes: ``host``, ``port``, ``zone``, ``zones`` (all served zones), ``tsig_key_name``,
    ``tsig_secret`` (base64), ``tsig_algorithm``, ``workdir``, ``pid``.
    Names given to the helpers may be absolute (``www.star.test`` / ``www.star.test.``),
    relative to the main zone (``www``) or ``@`` for the apex.
    """

    def __init__(
        self,
        zone: str = DEFAULT_ZONE,
        *,
        extra_zones: Sequence[str] = (),
        host: str = "127.0.0.1",
        port: int | None = None,
        workdir: str | os.PathLike[str] | None = None,
        tsig_key_name: str = "star-operator-key",
        start_timeout: float = 20.0,
    ) -> None:
        self.zone = zone.rstrip(".").lower()
        self.zones = [self.zone] + [z.rstrip(".").lower() for z in extra_zones]
        self.host = host
        self.port = port or 0
        self._fixed_port = port is not None
        self.tsig_key_name = tsig_key_name
        self.tsig_algorithm = "hmac-sha256"
        self.tsig_secret = base64.b64encode(secrets.token_bytes(32)).decode("ascii")
        self.start_timeout = start_timeout
        self._workdir_arg = Path(workdir) if workdir is not None else None
        self._own_workdir = False
        self.workdir: Path | None = None
        self.pid: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    # ---------------------------------------------------------------- lifecycle

    @property
    def server(self) -> str:
        """``host:port``, the form ``star-ca --dns-server`` takes."""
        return f"{self.host}:{self.port}"

    @property
    def conf_path(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "named.conf"

    @property
    def log_path(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "named.log"

    def __enter__(self) -> LocalDNS:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> LocalDNS:
        """Write the configuration, start ``named`` and wait until it answers the zone's SOA.

        ``named`` runs in its own session (it can outlive this process: ``up``), and is stopped
        by PID. On any failure everything started so far is stopped and removed again.
        """
        if self._proc is not None or self.pid is not None:
            raise DNSHarnessError("already started")
        named = find_named()
        if self._workdir_arg is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="star-dns-"))
            self._own_workdir = True
        else:
            self.workdir = self._workdir_arg
            self.workdir.mkdir(parents=True, exist_ok=True)
            self._own_workdir = False
        try:
            attempts = 1 if self._fixed_port else 5
            for attempt in range(attempts):
                if not self._fixed_port:
                    self.port = _free_port(self.host)
                self._write_config()
                self._spawn(named)
                try:
                    self._wait_ready()
                    return self
                except StartupError:
                    log = log_tail(self.log_path, 200)
                    self._stop_process()
                    # Another process grabbed the port between probing and binding: try another.
                    port_taken = "address in use" in log or "unable to listen" in log
                    if attempt + 1 < attempts and port_taken:
                        continue
                    raise
            raise DNSHarnessError(f"named could not bind a port on {self.host}")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Kill ``named`` by PID and remove the private directory (idempotent)."""
        try:
            self._stop_process()
        finally:
            if self.workdir is not None and self._own_workdir:
                shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None if self._own_workdir else self.workdir

    def _stop_process(self) -> None:
        if self.pid is not None:
            stop_pid(self.pid)
        if self._proc is not None:
            self._proc.poll()  # collect the exit status if stop_pid has not reaped it already
        self._proc = None
        self.pid = None

    def _spawn(self, named: str) -> None:
        assert self.workdir is not None
        # -g: foreground, log to stderr, no privilege drop (we run as whoever we are);
        # -4: IPv4 only; -n 1: one worker thread is plenty for tests.
        argv = [named, "-g", "-4", "-n", "1", "-c", str(self.conf_path)]
        self._proc = spawn(argv, self.log_path, cwd=self.workdir)
        self.pid = self._proc.pid

    def _wait_ready(self) -> None:
        wait_until(
            lambda: bool(self.query(self.zone, "SOA", timeout=0.5)),
            self.start_timeout,
            f"BIND 9 named for {', '.join(self.zones)} on {self.server}",
            proc=self._proc,
            log_path=self.log_path,
        )

    def _write_config(self) -> None:
        assert self.workdir is not None
        wd = self.workdir
        zone_stanzas = []
        for zone in self.zones:
            zone_file = wd / f"db.{zone}"
            journal = wd / f"db.{zone}.jnl"
            if journal.exists():
                journal.unlink()
            zone_file.write_text(
                f"$TTL {DEFAULT_TTL}\n"
                f"@ IN SOA ns1.{zone}. hostmaster.{zone}. 1 60 60 3600 {DEFAULT_TTL}\n"
                f"@ IN NS ns1.{zone}.\n"
                f"ns1 IN A {self.host}\n"
            )
            zone_stanzas.append(
                f'zone "{zone}" {{\n'
                f"    type primary;\n"
                f'    file "{zone_file}";\n'
                f'    update-policy {{ grant "{self.tsig_key_name}" zonesub ANY; }};\n'
                f"}};\n"
            )
        conf = (
            f'key "{self.tsig_key_name}" {{\n'
            f"    algorithm {self.tsig_algorithm};\n"
            f'    secret "{self.tsig_secret}";\n'
            f"}};\n"
            "options {\n"
            f'    directory "{wd}";\n'
            f'    pid-file "{wd}/named.pid";\n'
            f'    session-keyfile "{wd}/session.key";\n'
            f'    managed-keys-directory "{wd}";\n'
            f"    listen-on port {self.port} {{ {self.host}; }};\n"
            "    listen-on-v6 { none; };\n"
            "    recursion no;\n"
            "    allow-query { any; };\n"
            "    allow-transfer { none; };\n"
            "    notify no;\n"
            "    dnssec-validation no;\n"
            "};\n"
            "controls { };\n" + "".join(zone_stanzas)
        )
        self.conf_path.write_text(conf)
        (wd / "tsig.key").write_text(
            f'key "{self.tsig_key_name}" {{ algorithm {self.tsig_algorithm}; '
            f'secret "{self.tsig_secret}"; }};\n'
        )
        os.chmod(wd / "tsig.key", 0o600)

    # ---------------------------------------------------------------- records

    @property
    def keyring(self) -> dict[dns.name.Name, dns.tsig.Key]:
        key = dns.tsig.Key(self.tsig_key_name, self.tsig_secret, self.tsig_algorithm)
        return {key.name: key}

    def _name(self, name: str) -> dns.name.Name:
        if name in ("@", ""):
            return dns.name.from_text(self.zone)
        if name.endswith("."):
            return dns.name.from_text(name)
        lowered = name.lower()
        for zone in self.zones:
            if lowered == zone or lowered.endswith("." + zone):
                return dns.name.from_text(name)
        return dns.name.from_text(name, origin=dns.name.from_text(self.zone))

    def _zone_of(self, name: dns.name.Name) -> dns.name.Name:
        best: dns.name.Name | None = None
        for zone in self.zones:
            zname = dns.name.from_text(zone)
            if name.is_subdomain(zname) and (best is None or len(zname) > len(best)):
                best = zname
        if best is None:
            raise DNSHarnessError(f"{name} is not in any served zone ({', '.join(self.zones)})")
        return best

    def _send_update(self, update: dns.update.UpdateMessage, timeout: float = 5.0) -> None:
        response = dns.query.tcp(update, self.host, port=self.port, timeout=timeout)
        rcode = response.rcode()
        if rcode != dns.rcode.NOERROR:
            raise DNSHarnessError(f"update refused by {self.server}: {dns.rcode.to_text(rcode)}")

    def _update(self, name: dns.name.Name) -> dns.update.UpdateMessage:
        return dns.update.UpdateMessage(
            self._zone_of(name), keyring=self.keyring, keyalgorithm=self.tsig_algorithm
        )

    def set_records(
        self, name: str, rdtype: str, values: Iterable[str], ttl: int = DEFAULT_TTL
    ) -> None:
        """Replace the ``rdtype`` RRset at ``name`` with ``values`` (presentation format)."""
        qname = self._name(name)
        values = list(values)
        update = self._update(qname)
        if not values:
            update.delete(qname, rdtype)
        else:
            update.replace(qname, ttl, rdtype, *values)
        self._send_update(update)

    def add_records(
        self, name: str, rdtype: str, values: Iterable[str], ttl: int = DEFAULT_TTL
    ) -> None:
        """Add ``values`` to the ``rdtype`` RRset at ``name``."""
        qname = self._name(name)
        update = self._update(qname)
        update.add(qname, ttl, rdtype, *list(values))
        self._send_update(update)

    def set_caa(self, name: str, values: Sequence[str], ttl: int = DEFAULT_TTL) -> None:
        """Replace the CAA RRset, e.g. ``['0 issue "star-ca.test; validationmethods=dns-01"']``."""
        self.set_records(name, "CAA", values, ttl)

    def delete_rrset(self, name: str, rdtype: str) -> None:
        """Remove the whole ``rdtype`` RRset at ``name`` (no error if there is none)."""
        qname = self._name(name)
        update = self._update(qname)
        update.delete(qname, rdtype)
        self._send_update(update)

    def query(self, name: str, rdtype: str, *, timeout: float = 3.0) -> list[str]:
        """Ask the server (UDP, TCP on truncation); the answer RRset's rdata as text, [] if none."""
        qname = self._name(name)
        request = dns.message.make_query(qname, rdtype)
        response, _ = dns.query.udp_with_fallback(
            request, self.host, port=self.port, timeout=timeout
        )
        rcode = response.rcode()
        if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            raise DNSHarnessError(f"query {qname} {rdtype}: {dns.rcode.to_text(rcode)}")
        try:
            rrset = response.find_rrset(
                response.answer, qname, dns.rdataclass.IN, dns.rdatatype.from_text(rdtype)
            )
        except KeyError:
            return []
        return [rdata.to_text() for rdata in rrset]

    # ---------------------------------------------------------------- state file

    def to_state(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "host": self.host,
            "port": self.port,
            "zone": self.zone,
            "zones": self.zones,
            "tsig_key_name": self.tsig_key_name,
            "tsig_secret": self.tsig_secret,
            "tsig_algorithm": self.tsig_algorithm,
            "workdir": str(self.workdir),
            "conf": str(self.conf_path),
            "server": self.server,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> LocalDNS:
        """An object for an already-running server described by ``to_state()`` output."""
        obj = cls(
            state["zone"],
            extra_zones=[z for z in state.get("zones", []) if z != state["zone"]],
            host=state["host"],
            port=state["port"],
            workdir=state["workdir"],
            tsig_key_name=state["tsig_key_name"],
        )
        obj.tsig_secret = state["tsig_secret"]
        obj.tsig_algorithm = state["tsig_algorithm"]
        obj.workdir = Path(state["workdir"])
        obj.pid = state["pid"]
        return obj


# -------------------------------------------------------------------- standalone


def _state_path(state_dir: str | os.PathLike[str]) -> Path:
    return Path(state_dir) / STATE_FILE


def _read_state(state_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    path = _state_path(state_dir)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


def status(state_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The saved server settings plus ``running`` (process alive and answering SOA)."""
    state = _read_state(state_dir)
    if state is None:
        return {"running": False, "state_file": str(_state_path(state_dir))}
    alive = _pid_is_our_named(state["pid"], state["conf"])
    answering = False
    if alive:
        with contextlib.suppress(dns.exception.DNSException, OSError, DNSHarnessError):
            answering = bool(LocalDNS.from_state(state).query(state["zone"], "SOA", timeout=1.0))
    return {**state, "running": alive and answering, "process_alive": alive}


def up(
    state_dir: str | os.PathLike[str], zone: str = DEFAULT_ZONE, extra_zones: Sequence[str] = (),
    *, port: int | None = None, tsig_key_name: str | None = None,
) -> dict[str, Any]:
    """Start a detached BIND 9 whose files live in ``<state_dir>/dns``; save ``dns.json``.

    If one from an earlier ``up`` is still running, reuse it.
    """
    current = status(state_dir)
    if current.get("running"):
        return current
    if current.get("pid"):
        down(state_dir)  # stale: clean the remains before starting afresh
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {"port": port}
    if tsig_key_name:
        options["tsig_key_name"] = tsig_key_name
    server = LocalDNS(zone, extra_zones=extra_zones, workdir=state_dir / STATE_SUBDIR, **options)
    try:
        server.start()
        state = server.to_state()
        tmp = _state_path(state_dir).with_suffix(".json.tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        os.chmod(tmp, 0o600)
        tmp.replace(_state_path(state_dir))
    except BaseException:
        server.stop()
        shutil.rmtree(state_dir / STATE_SUBDIR, ignore_errors=True)
        raise
    return {**state, "running": True, "process_alive": True}


def down(state_dir: str | os.PathLike[str]) -> bool:
    """Stop the server recorded in ``<state_dir>/dns.json`` and remove its files.

    Returns True if a running server was stopped.
    """
    state = _read_state(state_dir)
    if state is None:
        return False
    stopped = False
    if _pid_is_our_named(state["pid"], state["conf"]):
        stop_pid(state["pid"])
        stopped = True
    shutil.rmtree(state["workdir"], ignore_errors=True)
    _state_path(state_dir).unlink(missing_ok=True)
    return stopped


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m star_devenv.dns", description="Local BIND 9 for star-operator tests/demo"
    )
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument(
        "--state-dir",
        default=str(default_state_dir()),
        help="where dns.json and the server's files are kept (default: %(default)s)",
    )
    parser.add_argument("--zone", default=DEFAULT_ZONE)
    parser.add_argument("--extra-zone", action="append", default=[])
    args = parser.parse_args(argv)
    if args.command == "up":
        info = up(args.state_dir, args.zone, args.extra_zone)
        print(json.dumps(info, indent=2))
        print(
            f"BIND 9 serving {', '.join(info['zones'])} on {info['server']} "
            f"(TSIG key {info['tsig_key_name']}, {info['tsig_algorithm']})",
            file=sys.stderr,
        )
        return 0
    if args.command == "down":
        print("stopped" if down(args.state_dir) else "not running")
        return 0
    info = status(args.state_dir)
    print(json.dumps(info, indent=2))
    return 0 if info["running"] else 1


if __name__ == "__main__":
    raise SystemExit(main())

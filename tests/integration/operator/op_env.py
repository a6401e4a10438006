"""Helpers for the operator integration tests: the operator subprocess, the DNO setup
(Secrets + CsrTemplates), and read-outs from the cluster and the CA."""
from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from star_devenv.ca import LocalCA
# the DNO's side is the harness's (bench/ builds it too); the tests take it from here with the rest
from star_devenv.dno import (OPERATOR_NS, StarEnv, apply_crds, b64,  # noqa: F401
                             csr_template_manifest)
from star_devenv.kubectl import Kubectl
from star_operator.constants import (DELEGATION_PLURAL, GROUP, STARCERTIFICATE_PLURAL,
                                     STARORDER_PLURAL)
from star_devenv.processes import free_port
from tests.waiting import wait_for


# the kinds with a finalizer of the operator's (deletion handlers, daemons)
FINALIZED_KINDS = ",".join(f"{plural}.{GROUP}" for plural in
                           (STARORDER_PLURAL, STARCERTIFICATE_PLURAL, DELEGATION_PLURAL))


class OperatorProcess:
    """``star-operator`` as a subprocess with the control plane's kubeconfig."""

    def __init__(self, kubeconfig: Path, log_dir: Path) -> None:
        self.kubeconfig, self.log_dir = kubeconfig, log_dir
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.namespaces: list[str] = []  # deleted by tests; awaited before stopping
        self.metrics_port = free_port()  # kept across restarts

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"operator-{self.starts}.log"

    def start(self) -> None:
        self.starts += 1
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig),
               "STAR_OPERATOR_NAMESPACE": OPERATOR_NS, "STAR_OPERATOR_BACKOFF_MIN": "0.5",
               "STAR_OPERATOR_BACKOFF_MAX": "5", "STAR_OPERATOR_DELETE_BACKOFF_MAX": "2",
               "STAR_OPERATOR_POLL_MIN": "0.2", "STAR_OPERATOR_FETCH_JITTER_MAX": "0.2"}
        script = Path(sys.executable).with_name("star-operator")
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen([str(script), "--all-namespaces", "--verbose",
                                          "--metrics-port", str(self.metrics_port)],
                                         stdout=log,
                                         stderr=subprocess.STDOUT, env=env,
                                         start_new_session=True)

    def kill(self) -> None:
        """SIGKILL: a crash, no cleanup handlers run."""
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
            self.proc = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def delete_namespace(self, kubectl: Kubectl, namespace: str) -> None:
        """Delete a test's namespace without waiting, its finalized objects first: the
        namespace controller reaches a namespace's content only seconds after the delete,
        and the StarOrders' cancellation at the CA would wait for that. :meth:`drain` awaits
        the finalizers before the operator stops."""
        kubectl.run("delete", FINALIZED_KINDS, "--all", "-n", namespace, "--wait=false",
                    check=False)
        kubectl.run("delete", "namespace", namespace, "--wait=false", check=False)
        self.namespaces.append(namespace)

    def drain(self, timeout: float = 120) -> None:
        """Wait until the namespaces the tests deleted hold none of the objects whose
        finalizers need this operator (cancel at the CA, end a Delegation, stop a daemon), so
        it can stop. Not until the namespaces are gone: the namespace controller retries a
        namespace with content on an exponential backoff, which after a finalizer of a few
        seconds cost up to as long again per module; the emptied namespaces finish on their
        own while the next module runs."""
        if not self.namespaces:
            return
        kubectl, deleted = Kubectl(self.kubeconfig), set(self.namespaces)

        def drained() -> bool:
            proc = kubectl.run("get", FINALIZED_KINDS, "--all-namespaces", "-o",
                               "jsonpath={.items[*].metadata.namespace}", check=False)
            return proc.returncode == 0 and not deleted & set(proc.stdout.split())

        with contextlib.suppress(AssertionError):  # as before: a stuck finalizer is the
            wait_for(drained, timeout, "the deleted namespaces' objects", interval=0.5)


def account_client(kubectl: Kubectl, env: StarEnv, template: str | None = None) -> Any:
    """An AcmeClient with a template's own account key (what the operator orders with; the
    main template's by default), for tests that act at the CA as that account would (list its
    orders, take a replaces slot, revoke out of band). Use inside ``asyncio.run``."""
    import josepy as jose

    from star_operator import acme
    secret = get(kubectl, "secret", f"acct-{template or env.template}", OPERATOR_NS)
    key_pem = base64.b64decode(secret["data"]["tls.key"])
    return acme.AcmeClient(env.ca.directory_url, jose.JWK.load(key_pem),
                           ca_bundle=env.root_pem)


@contextlib.contextmanager
def public_ca(dns: Any, profiles: dict[str, int]) -> Iterator[LocalCA]:
    """star-ca playing a public CA: STAR off, ARI on, a 90-day ``classic`` profile and
    ``profiles`` (name -> validity in seconds)."""
    with LocalCA(dns_server=dns.server, star=False,
                 profiles={"classic": 7776000, **profiles}) as ca:
        yield ca


@contextlib.contextmanager
def installed(env: StarEnv) -> Iterator[StarEnv]:
    """The env's Secrets and CsrTemplates applied for the ``with`` block, removed after it."""
    env.install()
    try:
        yield env
    finally:
        env.uninstall()


# ------------------------------------------------------------------------------ read-outs

def get(kubectl: Kubectl, kind: str, name: str, ns: str | None = None) -> dict[str, Any] | None:
    args = [kind, name] + (["-n", ns] if ns else [])
    proc = kubectl.run("get", *args, "-o", "json", check=False)
    return json.loads(proc.stdout) if proc.returncode == 0 else None


def scrape(url: str) -> dict[tuple[str, frozenset], float]:
    """One scrape of the operator's Prometheus endpoint: (sample name, labels) → value."""
    with urllib.request.urlopen(url, timeout=5) as resp:
        text = resp.read().decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def ready(obj: dict[str, Any] | None) -> dict[str, Any] | None:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or ():
        if cond.get("type") == "Ready":
            return cond
    return None


def wait_condition(kubectl: Kubectl, kind: str, name: str, ns: str | None, *, status: str,
                   reason: str | None = None, timeout: float = 90) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        obj = get(kubectl, kind, name, ns)
        cond = ready(obj)
        if cond and cond["status"] == status and (reason is None or cond["reason"] == reason):
            return obj
        return None
    return wait_for(check, timeout, f"{kind} {ns}/{name} Ready={status} {reason or ''}")


def secret_tls(kubectl: Kubectl, ns: str, name: str) -> tuple[bytes, bytes, bytes] | None:
    """(tls.crt, tls.key, ca.crt) once tls.crt is non-empty."""
    obj = get(kubectl, "secret", name, ns)
    data = (obj or {}).get("data") or {}
    if not data.get("tls.crt"):
        return None
    return tuple(base64.b64decode(data.get(k) or "") for k in ("tls.crt", "tls.key", "ca.crt"))


def events(kubectl: Kubectl, ns: str, name: str) -> list[dict[str, Any]]:
    items = kubectl.get_json("events", "-n", ns)["items"]
    return [e for e in items if e.get("involvedObject", {}).get("name") == name]


def _ca_query(ca: LocalCA, sql: str) -> list[tuple[Any, ...]]:
    """Rows of a read-only query on star-ca's database (what the CA itself recorded)."""
    db = ca.data_dir / "star-ca.sqlite3"
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def ca_orders(ca: LocalCA, name: str) -> list[tuple[str, str]]:
    """(order id, status) of every order at the CA whose identifiers include ``name``."""
    rows = _ca_query(ca, "SELECT id, status, identifiers FROM orders")
    return [(oid, status) for oid, status, idents in rows if name in idents]


def ca_replaced(ca: LocalCA, name: str) -> list[str | None]:
    """The ARI CertID each order for ``name`` said it replaces, oldest order first."""
    rows = _ca_query(ca, "SELECT identifiers, replaces FROM orders ORDER BY created")
    return [replaces for idents, replaces in rows if name in idents]


def ca_revocations(ca: LocalCA) -> dict[str, int | None]:
    """serial (hex) -> revocation reason (None: not revoked) of every certificate at the CA."""
    return dict(_ca_query(ca, "SELECT serial, revoked_reason FROM certs"))


def warned(kubectl: Kubectl, ns: str, name: str, reason: str, kind: str = "StarOrder") -> bool:
    """Whether a Warning Event with ``reason`` was posted about the ``kind`` named ``name``."""
    return any(e["type"] == "Warning" and e["reason"] == reason
               and e["involvedObject"].get("kind") == kind for e in events(kubectl, ns, name))


def log_records(operator: OperatorProcess, name: str, text: str) -> list[dict[str, Any]]:
    """The operator's JSON log records about object ``name`` whose message contains ``text``."""
    out = []
    for line in operator.log().splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if (rec.get("object") or {}).get("name") == name and text in rec.get("message", ""):
            out.append(rec)
    return out

"""The demo with two organizations (`--two-clusters`): the DNO delegates to a CDN over RFC 9115.

Two control planes on loopback, as host processes (no node): the DNO's cluster with BIND 9,
star-ca, its operator and the delegation front end (star_devenv.front_end); the CDN's own
cluster with its own operator, which holds no TSIG key and no CA account. The DNO applies the
example CsrTemplate and examples/delegation.yaml (its EAB Secret with a fresh MAC key); the CDN
applies what examples/cdn-star-issuer.yaml shows (StarIssuer + EAB and roots Secrets, a
StarOrder) with the key id and MAC key the DNO handed over (star_devenv.two_clusters, as the
two-cluster integration tests). Every line says whose view it is ("DNO>" / "CDN>"): the
Delegation bound to the CDN's account, the DNO's StarOrder carrying only the CDN's CSR, the
CDN's Secret renewed for its own key, then the DNO deleting the Delegation and the CDN's
StarOrder saying why it ends (Canceled) while its Secret keeps the last certificate.

The CDN's control plane starts in a thread while the DNO's side starts: each takes ~10 s.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from star_devenv import environment, two_clusters
from star_devenv.controlplane import LocalControlPlane
from star_devenv.demo.common import (EXAMPLES, TEARDOWN, example_documents,
                                     local_environment, poll, say, signals_ignored,
                                     star_url_state, wait_for_ctrl_c)
from star_devenv.demo.on_host import install_crds, operator_process, watch_rotations
from star_devenv.front_end import LocalFrontEnd
from star_devenv.kubectl import Kubectl

DNO, CDN = "DNO> ", "CDN> "
CDN_NAMES = ["www.star.test"]   # the name examples/delegation.yaml's cname-map delegates


@contextmanager
def cdn_control_plane() -> Iterator[Callable[[], LocalControlPlane]]:
    """The CDN's control plane, starting in the background; the caller gets the function that
    waits for it. Stopped (and its directory removed) after everything inside."""
    plane = LocalControlPlane()
    with ThreadPoolExecutor(1) as pool:
        started = pool.submit(plane.start)
        try:
            yield started.result
        finally:
            with signals_ignored():
                started.exception()   # waits for a start still under way
                TEARDOWN.step(f"stopping the CDN's control plane ({plane.directory})")
                plane.stop()


@contextmanager
def front_end(kubeconfig: str, namespace: str) -> Iterator[LocalFrontEnd]:
    with LocalFrontEnd(kubeconfig, namespace) as fe:
        assert fe.proc is not None
        say(f"{DNO}delegation front end {fe.directory_url} (pid {fe.proc.pid}) serves "
            f"namespace {namespace}")
        try:
            yield fe
        finally:
            TEARDOWN.step(f"stopping the DNO's delegation front end (pid {fe.proc.pid})")


def condition(kubectl: Kubectl, kind: str, name: str, ns: str) -> dict[str, Any]:
    """The Ready condition of ``kind`` ns/name, {} while it has none."""
    obj = kubectl.get_json(kind, name, "-n", ns)
    return next((c for c in (obj.get("status") or {}).get("conditions") or []
                 if c["type"] == "Ready"), {})


def fingerprint(public_key: Any) -> str:
    der = public_key.public_bytes(serialization.Encoding.DER,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(der).hexdigest()[:16]


def tls_key(kubectl: Kubectl, ns: str, secret: str) -> bytes:
    return base64.b64decode(kubectl.get_json("secret", secret, "-n", ns)["data"]["tls.key"])


def run(args: argparse.Namespace, state_dir: Path) -> None:
    settings = environment.EnvironmentSettings(ca_port=args.ca_port, dns_port=args.dns_port,
                                               min_lifetime=5)
    say(f"{CDN}starting the CDN's own control plane (etcd, kube-apiserver, "
        f"kube-controller-manager) alongside")
    with cdn_control_plane() as cdn_ready, local_environment(state_dir, settings) as env:
        dno = Kubectl(Path(env["kubeconfig"]))
        root = Path(env["ca"]["root_pem"]).read_text()
        say(f"{DNO}control plane {env['api_url']}, CA {env['ca']['directory_url']}, "
            f"BIND 9 {env['dns']['server']}")
        say(f"{DNO}export KUBECONFIG={env['kubeconfig']}")
        plane = cdn_ready()
        cdn = Kubectl(plane.kubeconfig)
        say(f"{CDN}control plane {plane.api_url}; export KUBECONFIG={plane.kubeconfig}")
        with ThreadPoolExecutor(2) as pool:   # both clusters at once: startup time
            list(pool.map(install_crds, (dno, cdn)))
        with operator_process(env["kubeconfig"], state_dir / "dno-operator.log",
                              "the DNO's operator"), \
                operator_process(str(plane.kubeconfig), plane.directory / "operator.log",
                                 "the CDN's operator"):
            delegate(args, dno, cdn, env, root)


def grant(dno: Kubectl, env: dict[str, Any], delegation: dict[str, Any], mac: str) -> None:
    """The DNO's side: the example CsrTemplate (its namespaces plus the Delegation's, where the
    front end's StarOrders go), the Delegation of examples/delegation.yaml and its EAB Secret."""
    ns, name = delegation["metadata"]["namespace"], delegation["metadata"]["name"]
    spec = dict(delegation["spec"])
    template, key_id = spec.pop("csrTemplateName"), spec.pop("externalAccountBinding")["keyID"]
    # Not the example's cname-map: its target (the CDN's zone) has no DNS server here, and
    # star-ca's CAA check follows the CNAME there and fails.
    cname_map = spec.pop("cnameMap", {})
    (csr_template,) = [d for d in example_documents(env["ca"]["directory_url"],
                                                    env["dns"]["server"])
                       if d["kind"] == "CsrTemplate"]
    csr_template["spec"]["allowedNamespaces"].append(ns)
    two_clusters.apply_all(dno, [
        csr_template, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}])
    two_clusters.delegation(dno, ns, name, template, key_id, mac, **spec)
    say(f"{DNO}applied CsrTemplate {template} and Delegation {ns}/{name} (examples/): key id "
        f"{key_id}, a fresh MAC key in Secret {ns}/{name}-eab, handed to the CDN out of band")
    if cname_map:
        say(f"{DNO}(without the example's cnameMap {cname_map}: no DNS server for the CDN's "
            f"zone here, and the CA's CAA check would follow the CNAME)")


@dataclass(frozen=True)
class Names:
    """Where each side's objects are: the Delegation in the DNO's cluster (examples/
    delegation.yaml), the StarIssuer and StarOrder in the CDN's (examples/cdn-star-issuer.yaml)."""

    ns: str
    delegation: str
    key_id: str
    cdn_ns: str
    issuer: str
    order: str

    @property
    def secret(self) -> str:
        return f"{self.order}-tls"


def delegate(args: argparse.Namespace, dno: Kubectl, cdn: Kubectl, env: dict[str, Any],
             root: str) -> None:
    delegation = yaml.safe_load((EXAMPLES / "delegation.yaml").read_text())
    issuer, order = (d for d in yaml.safe_load_all(
        (EXAMPLES / "cdn-star-issuer.yaml").read_text()) if d["kind"] != "Secret")
    names = Names(delegation["metadata"]["namespace"], delegation["metadata"]["name"],
                  delegation["spec"]["externalAccountBinding"]["keyID"],
                  issuer["metadata"]["namespace"], issuer["metadata"]["name"],
                  order["metadata"]["name"])
    mac = two_clusters.mac_key()
    # The front end starts (~5 s of imports) while the DNO's objects are applied.
    with ThreadPoolExecutor(1) as pool:
        granted = pool.submit(grant, dno, env, delegation, mac)
        with front_end(env["kubeconfig"], names.ns) as fe:
            granted.result()
            said = poll(lambda: condition(dno, "delegation", names.delegation, names.ns)
                        .get("status") == "True"
                        and condition(dno, "delegation", names.delegation, names.ns), 60,
                        "the Delegation Ready")
            say(f"{DNO}Delegation {names.ns}/{names.delegation} Ready ({said.get('reason')}): "
                f"no account bound yet")
            cdn_orders(args, dno, cdn, names, fe.directory_url, fe.ca_pem + root, mac)
            take_back(args, dno, cdn, names, root)
            wait_for_ctrl_c(args.interactive)


def cdn_orders(args: argparse.Namespace, dno: Kubectl, cdn: Kubectl, names: Names,
               directory_url: str, roots: str, mac: str) -> None:
    """The CDN applies its StarIssuer and StarOrder; each side says what it sees until the
    CDN's Secret has held ``args.rotations`` renewals."""
    n = names
    cdn.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n.cdn_ns}})
    started = time.monotonic()
    two_clusters.star_issuer(cdn, n.cdn_ns, n.issuer, directory_url, n.key_id, mac,
                             roots=roots)
    two_clusters.cdn_order(cdn, n.cdn_ns, n.order, n.issuer, CDN_NAMES,
                           lifetime=f"{args.lifetime}s", duration="1h")
    say(f"{CDN}applied StarIssuer {n.cdn_ns}/{n.issuer} (the front end's URL, key id "
        f"{n.key_id} + MAC key in Secret {n.issuer}-eab) and StarOrder {n.cdn_ns}/{n.order} "
        f"for {', '.join(CDN_NAMES)} (lifetime {args.lifetime} s)")
    said = poll(lambda: condition(cdn, "starissuer", n.issuer, n.cdn_ns).get("status") == "True"
                and condition(cdn, "starissuer", n.issuer, n.cdn_ns), 60, "the StarIssuer Ready")
    say(f"{CDN}StarIssuer {n.cdn_ns}/{n.issuer} Ready ({said.get('reason')}): "
        f"{said.get('message')}")
    account = poll(lambda: (dno.get_json("delegation", n.delegation, "-n", n.ns).get("status")
                            or {}).get("account"), 60, "the Delegation's account")
    say(f"{DNO}Delegation {n.ns}/{n.delegation} bound to the CDN's account {account['url']} "
        f"(key id {account.get('keyID')}, thumbprint {account.get('thumbprint')})")

    deadline = started + 60 + args.lifetime * (args.rotations + 2)
    seen = watch_rotations(cdn, n.cdn_ns, n.secret, 0, started, deadline, CDN)
    show_dno_order(dno, cdn, n)
    watch_rotations(cdn, n.cdn_ns, n.secret, args.rotations, started, deadline, CDN, seen)


def take_back(args: argparse.Namespace, dno: Kubectl, cdn: Kubectl, names: Names,
              root: str) -> None:
    """The DNO deletes the Delegation: the CA refuses the next certificate, the CDN's
    StarOrder says why, its Secret keeps the last certificate."""
    n = names
    star_url = cdn.get_json("starorder", n.order, "-n", n.cdn_ns)["status"]["starCertificateURL"]
    say(f"{CDN}star-certificate URL (the CA's, fetched directly): {star_url}")
    say(f"{DNO}deleting Delegation {n.ns}/{n.delegation}: its StarOrders go, each cancelled at "
        f"the CA")
    deleted = time.monotonic()
    dno.run("delete", "delegation", n.delegation, "-n", n.ns, "--timeout=60s", timeout=90)
    answer = poll(lambda: (a := star_url_state(star_url, root)).startswith("403") and a,
                  60, "the CA refusing the next certificate")
    say(f"{DNO}Delegation gone; star-certificate URL now answers: {answer} "
        f"({time.monotonic() - deleted:.1f} s after the delete began)")
    said = poll(lambda: (c := condition(cdn, "starorder", n.order, n.cdn_ns)).get("reason")
                == "Canceled" and c, 60 + 2 * args.lifetime, "the CDN's StarOrder Canceled")
    say(f"{CDN}StarOrder {n.cdn_ns}/{n.order} Ready={said['status']} {said['reason']}: "
        f"{said.get('message')}")
    data = cdn.get_json("secret", n.secret, "-n", n.cdn_ns)["data"]
    last = x509.load_pem_x509_certificate(base64.b64decode(data["tls.crt"]))
    say(f"{CDN}Secret {n.cdn_ns}/{n.secret} keeps serial={last.serial_number:x} (the last "
        f"certificate); it expires at {last.not_valid_after_utc:%H:%M:%S} and is not renewed")


def show_dno_order(dno: Kubectl, cdn: Kubectl, n: Names) -> None:
    """What the DNO's cluster holds for the CDN's order: a StarOrder with the CDN's CSR (the
    CDN's public key), and nowhere the CDN's private key."""
    (order,) = dno.get_json("starorders", "-n", n.ns, "-l",
                            f"star.operator.dev/delegation={n.delegation}")["items"]
    csr = x509.load_pem_x509_csr(order["spec"]["csr"].encode())
    key = tls_key(cdn, n.cdn_ns, n.secret)
    cdn_public = serialization.load_pem_private_key(key, None).public_key()
    same = "the key in the CDN's Secret" if fingerprint(csr.public_key()) == \
        fingerprint(cdn_public) else "NOT the CDN's key"
    status = order.get("status") or {}
    say(f"{DNO}StarOrder {n.ns}/{order['metadata']['name']} (made by the front end): dnsNames="
        f"{','.join(order['spec']['dnsNames'])}, spec.csr from the CDN with public key "
        f"{fingerprint(csr.public_key())} ({same}); Order2 {status.get('orderURL')} "
        f"{status.get('orderState')}")
    held = two_clusters.secrets_holding(dno, key.strip())
    say(f"{DNO}Secrets in the DNO's cluster holding the CDN's private key: "
        f"{', '.join(held) or 'none'}")
    assert not held, f"the CDN's key is in the DNO's cluster: {held}"

"""The one-command demo: a STAR certificate series renewed into a Secret, then cancelled.

Starts the local environment (control plane, BIND 9, the CA), installs the CRDs, runs the
operator, applies the sample CsrTemplate and StarOrder from examples/, prints one line per
rotation of the Secret's certificate, deletes the StarOrder and shows that the CA cancelled the
series. Everything it started is stopped on exit, Ctrl-C included.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509

from star_devenv import environment
from star_devenv.kubectl import Kubectl
from star_devenv.processes import log_tail, spawn, stop_pid
from star_operator.acme import AcmeProblem, fetch_star_certificate

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
CRDS = REPO / "crds"


def say(message: str) -> None:
    print(f"[demo {time.strftime('%H:%M:%S')}] {message}", flush=True)


@contextmanager
def local_environment(state_dir: Path, settings: environment.EnvironmentSettings
                      ) -> Iterator[dict[str, Any]]:
    say("starting etcd, kube-apiserver, kube-controller-manager, BIND 9 and star-ca on loopback")
    try:
        yield environment.up(state_dir, settings)
    finally:
        say("tearing down every process the demo started")
        environment.down(state_dir)


@contextmanager
def operator_process(kubeconfig: str, log_path: Path) -> Iterator[None]:
    env = {**os.environ, "KUBECONFIG": kubeconfig, "STAR_OPERATOR_NAMESPACE": "star-operator"}
    script = Path(sys.executable).with_name("star-operator")
    proc = spawn([str(script), "--all-namespaces", "--verbose", "--metrics-port", "0"],
                 log_path, env=env)
    say(f"operator running (pid {proc.pid}, log {log_path})")
    try:
        yield
    except BaseException:
        say(f"operator log (last lines):\n{log_tail(log_path, 40)}")
        raise
    finally:
        stop_pid(proc.pid)


def example_documents(settings_ca_url: str, dns_server: str) -> list[dict[str, Any]]:
    """examples/ as written, pointed at this environment's CA and DNS addresses."""
    docs: list[dict[str, Any]] = []
    for path in (EXAMPLES / "csrtemplate-star-test.yaml", EXAMPLES / "starorder.yaml"):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    for doc in docs:
        if doc["kind"] == "CsrTemplate":
            doc["spec"]["acme"]["directoryURL"] = settings_ca_url
            doc["spec"]["dns01"]["rfc2136"]["nameserver"] = dns_server
    return docs


def certificate_of(kubectl: Kubectl, namespace: str, secret: str) -> x509.Certificate | None:
    if not kubectl.exists("secret", secret, "-n", namespace):
        return None
    data = kubectl.get_json("secret", secret, "-n", namespace).get("data", {})
    if not data.get("tls.crt"):
        return None  # key staged, no certificate yet
    return x509.load_pem_x509_certificate(base64.b64decode(data["tls.crt"]))


def watch_rotations(kubectl: Kubectl, namespace: str, secret: str, rotations: int,
                    started: float, deadline: float) -> None:
    """One line per certificate the Secret holds, until `rotations` renewals were seen."""
    seen: list[int] = []
    while len(seen) <= rotations:
        cert = certificate_of(kubectl, namespace, secret)
        if cert is not None and (not seen or cert.serial_number != seen[-1]):
            seen.append(cert.serial_number)
            label = ("first certificate" if len(seen) == 1 else f"rotation {len(seen) - 1}")
            extra = f" ({time.monotonic() - started:.1f} s after apply)" if len(seen) == 1 else ""
            say(f"{namespace}/{secret} {label:<17} serial={cert.serial_number:x} "
                f"notBefore={cert.not_valid_before_utc:%H:%M:%S} "
                f"notAfter={cert.not_valid_after_utc:%H:%M:%S}{extra}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"saw {len(seen)} certificate(s) before the deadline")
        time.sleep(0.5)


async def star_url_state(url: str, ca_bundle: str) -> str:
    try:
        await fetch_star_certificate(None, url, ca_bundle=ca_bundle)
    except AcmeProblem as problem:
        return f"{problem.status} {problem.short_type}"
    return "200 (still issuing)"


def run(args: argparse.Namespace) -> int:
    settings = environment.EnvironmentSettings(ca_port=args.ca_port, dns_port=args.dns_port,
                                               min_lifetime=5)
    state_dir = Path(tempfile.mkdtemp(prefix="star-demo-"))
    with local_environment(state_dir, settings) as env:
        kubectl = Kubectl(Path(env["kubeconfig"]))
        say(f"control plane {env['api_url']}, CA {env['ca']['directory_url']}, "
            f"BIND 9 {env['dns']['server']}")
        say(f"export KUBECONFIG={env['kubeconfig']}   # to look around while it runs")
        for crd in sorted(CRDS.glob("*.yaml")):
            kubectl.run("apply", "-f", str(crd))
        kubectl.run("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
        with operator_process(env["kubeconfig"], state_dir / "operator.log"):
            docs = example_documents(env["ca"]["directory_url"], env["dns"]["server"])
            order = next(d for d in docs if d["kind"] == "StarOrder")
            order["spec"]["lifetime"] = f"{args.lifetime}s"
            ns, name = order["metadata"]["namespace"], order["metadata"]["name"]
            secret = order["spec"]["secretName"]
            say(f"applying examples/: CsrTemplate star-test and StarOrder {ns}/{name} "
                f"(lifetime {args.lifetime} s for the demo)")
            started = time.monotonic()
            for doc in docs:
                kubectl.apply(doc)
            watch_rotations(kubectl, ns, secret, args.rotations, started,
                            started + 120 + args.lifetime * (args.rotations + 2))
            status = kubectl.get_json("starorder", name, "-n", ns)["status"]
            say(f"STAR ID (order URL): {status['orderURL']}")
            say(f"deleting StarOrder {ns}/{name}: the operator cancels the order at the CA")
            kubectl.run("delete", "starorder", name, "-n", ns, "--timeout=60s")
            root = Path(env["ca"]["root_pem"]).read_text()
            state = asyncio.run(star_url_state(status["starCertificateURL"], root))
            say(f"star-certificate URL now answers: {state}")
            still = certificate_of(kubectl, ns, secret)
            if still is not None:
                say(f"Secret kept (secretPolicy Retain); its last certificate expires at "
                    f"{still.not_valid_after_utc:%H:%M:%S} and is not renewed")
            if args.interactive:
                say("done; press Ctrl-C to tear everything down")
                signal.pause()
    return 0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="demo", description=__doc__.splitlines()[0])
    parser.add_argument("--rotations", type=int, default=3, help="renewals to show")
    parser.add_argument("--lifetime", type=int, default=20, help="certificate lifetime, s")
    parser.add_argument("--ca-port", type=int, default=14000, help="0 = any free port")
    parser.add_argument("--dns-port", type=int, default=5353, help="0 = any free port")
    parser.add_argument("--non-interactive", dest="interactive", action="store_false",
                        help="exit after the cancellation instead of waiting for Ctrl-C")
    return parser.parse_args(argv)


def interrupt(signum: int, frame: object) -> None:
    """SIGTERM tears down like Ctrl-C does."""
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not sys.stdin.isatty():
        args.interactive = False
    signal.signal(signal.SIGTERM, interrupt)
    try:
        return run(args)
    except KeyboardInterrupt:
        return 130
    except (TimeoutError, subprocess.SubprocessError, RuntimeError) as error:
        say(f"failed: {error}")
        return 1


if __name__ == "__main__":
    raise SystemExit(main())

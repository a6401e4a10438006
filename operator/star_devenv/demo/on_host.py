"""The demo without a node: the operator and the CA as host processes, the Secret watched.

For machines where no kubelet can run (not root, no containerd): the same examples/, with the
operator run as `star-operator --all-namespaces` and the CA started by `star-env up`; the demo
prints one line per certificate the StarOrder's Secret holds.
"""
from __future__ import annotations

import argparse
import base64
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cryptography import x509

from star_devenv import environment
from star_devenv.demo.common import (REPO, TEARDOWN, example_documents, local_environment, say,
                                     star_url_state, wait_for_ctrl_c)
from star_devenv.kubectl import Kubectl
from star_devenv.processes import log_tail, spawn, stop_pid

CRDS = REPO / "crds"


@contextmanager
def operator_process(kubeconfig: str, log_path: Path, who: str = "the operator"
                     ) -> Iterator[None]:
    """``star-operator --all-namespaces`` on the cluster ``kubeconfig`` names; ``who`` names it
    in what the demo says (the two-cluster mode runs one per cluster)."""
    env = {**os.environ, "KUBECONFIG": kubeconfig, "STAR_OPERATOR_NAMESPACE": "star-operator"}
    script = Path(sys.executable).with_name("star-operator")
    proc = spawn([str(script), "--all-namespaces", "--verbose", "--metrics-port", "0"],
                 log_path, env=env)
    say(f"{who} running (pid {proc.pid}, log {log_path})")
    try:
        yield
    except Exception:  # not on Ctrl-C: that is how the demo ends
        say(f"{who}: log (last lines):\n{log_tail(log_path, 40)}")
        raise
    finally:
        TEARDOWN.step(f"stopping {who} (pid {proc.pid})")
        stop_pid(proc.pid)


def install_crds(kubectl: Kubectl) -> None:
    """crds/ applied and Established: two kubectl calls, not two per CRD (startup time)."""
    kubectl.run("apply", "-f", str(CRDS))
    kubectl.run("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")


def certificate_of(kubectl: Kubectl, namespace: str, secret: str) -> x509.Certificate | None:
    if not kubectl.exists("secret", secret, "-n", namespace):
        return None
    data = kubectl.get_json("secret", secret, "-n", namespace).get("data", {})
    if not data.get("tls.crt"):
        return None  # key staged, no certificate yet
    return x509.load_pem_x509_certificate(base64.b64decode(data["tls.crt"]))


def watch_rotations(kubectl: Kubectl, namespace: str, secret: str, rotations: int,
                    started: float, deadline: float, prefix: str = "",
                    seen: list[int] | None = None) -> list[int]:
    """One line per certificate the Secret holds (after ``prefix``), until `rotations` renewals
    were seen; returns the serials, which a later call continues from as ``seen``."""
    seen = [] if seen is None else seen
    while len(seen) <= rotations:
        cert = certificate_of(kubectl, namespace, secret)
        if cert is not None and (not seen or cert.serial_number != seen[-1]):
            seen.append(cert.serial_number)
            label = ("first certificate" if len(seen) == 1 else f"rotation {len(seen) - 1}")
            extra = f" ({time.monotonic() - started:.1f} s after apply)" if len(seen) == 1 else ""
            say(f"{prefix}{namespace}/{secret} {label:<17} serial={cert.serial_number:x} "
                f"notBefore={cert.not_valid_before_utc:%H:%M:%S} "
                f"notAfter={cert.not_valid_after_utc:%H:%M:%S}{extra}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"saw {len(seen)} certificate(s) before the deadline")
        time.sleep(0.5)
    return seen


def run(args: argparse.Namespace, state_dir: Path) -> None:
    settings = environment.EnvironmentSettings(ca_port=args.ca_port, dns_port=args.dns_port,
                                               min_lifetime=5)
    with local_environment(state_dir, settings) as env:
        kubectl = Kubectl(Path(env["kubeconfig"]))
        say(f"control plane {env['api_url']}, CA {env['ca']['directory_url']}, "
            f"BIND 9 {env['dns']['server']}")
        say(f"export KUBECONFIG={env['kubeconfig']}   # to look around while it runs")
        install_crds(kubectl)
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
            say(f"star-certificate URL now answers: "
                f"{star_url_state(status['starCertificateURL'], root)}")
            still = certificate_of(kubectl, ns, secret)
            if still is not None:
                say(f"Secret kept (secretPolicy Retain); its last certificate expires at "
                    f"{still.not_valid_after_utc:%H:%M:%S} and is not renewed")
            wait_for_ctrl_c(args.interactive)

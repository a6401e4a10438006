"""What both demo paths share: the environment's lifetime, examples/ and the cancellation check."""
from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import yaml

from star_devenv import environment
from star_operator.acme import AcmeProblem, fetch_star_certificate

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO / "examples"
T = TypeVar("T")


def say(message: str) -> None:
    print(f"[demo {time.strftime('%H:%M:%S')}] {message}", flush=True)


class Teardown:
    """One line per teardown step: the first announces the teardown, `done` (called once, by
    `main`, after every path's last step) says how long it took. One per demo run (TEARDOWN),
    shared by the steps of all paths."""

    def __init__(self) -> None:
        self.started: float | None = None

    def begin(self) -> None:
        if self.started is None:
            self.started = time.monotonic()
            say("tearing down every process the demo started")

    def step(self, what: str) -> None:
        self.begin()
        say(f"tearing down: {what}")

    def done(self) -> None:
        if self.started is not None:
            say(f"tearing down: done in {time.monotonic() - self.started:.1f} s")


TEARDOWN = Teardown()


@contextmanager
def signals_ignored() -> Iterator[None]:
    """Ctrl-C, SIGTERM and SIGHUP ignored while the teardown runs: a second Ctrl-C from an
    impatient user would otherwise stop it halfway and leave processes running."""
    signums = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {signum: signal.signal(signum, signal.SIG_IGN) for signum in signums}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextmanager
def local_environment(state_dir: Path, settings: environment.EnvironmentSettings
                      ) -> Iterator[dict[str, Any]]:
    parts = ["etcd, kube-apiserver, kube-controller-manager", "BIND 9"]
    if settings.host_ca:
        parts.append("star-ca")
    if settings.node:
        parts.append("a node (containerd, kubelet, kube-scheduler)")
    say(f"starting {', '.join(parts)} on loopback")
    try:
        yield environment.up(state_dir, settings)
    finally:
        with signals_ignored():
            TEARDOWN.begin()
            environment.down(state_dir, TEARDOWN.step)


def example_documents(directory_url: str, dns_server: str,
                      ca_bundle: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """examples/ as written, pointed at this environment's CA and DNS addresses (and at the
    Secret holding the CA's root, when it is not the one `star-env up` publishes)."""
    docs: list[dict[str, Any]] = []
    for path in (EXAMPLES / "csrtemplate-star-test.yaml", EXAMPLES / "starorder.yaml"):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    for doc in docs:
        if doc["kind"] == "CsrTemplate":
            doc["spec"]["acme"]["directoryURL"] = directory_url
            doc["spec"]["dns01"]["rfc2136"]["nameserver"] = dns_server
            if ca_bundle is not None:
                doc["spec"]["acme"]["caBundleSecretRef"] = ca_bundle
    return docs


def poll(probe: Callable[[], T | None], timeout: float, what: str, interval: float = 0.5) -> T:
    """``probe()``'s first non-None, non-False answer within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        answer = probe()
        if answer is not None and answer is not False:
            return answer
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s")
        time.sleep(interval)


def star_url_state(url: str, ca_bundle: str) -> str:
    """What the star-certificate URL answers an unauthenticated GET with (RFC 8739 §3.3)."""
    async def fetch() -> str:
        try:
            await fetch_star_certificate(None, url, ca_bundle=ca_bundle)
        except AcmeProblem as problem:
            return f"{problem.status} {problem.short_type}"
        return "200 (still issuing)"
    return asyncio.run(fetch())


def wait_for_ctrl_c(interactive: bool, hint: str = "") -> None:
    if interactive:
        say(f"done; {hint}press Ctrl-C to tear everything down")
        signal.pause()

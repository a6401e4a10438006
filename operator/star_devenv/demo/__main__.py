"""`python -m star_devenv.demo` (scripts/demo.sh): pick the path, run it, tear down on exit."""
from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from star_devenv.demo import on_host, on_node, on_two_clusters
from star_devenv.demo.common import TEARDOWN, say
from star_devenv.node import missing_requirements

HOST_LIFETIME, NODE_LIFETIME, TWO_CLUSTERS_LIFETIME = 20, 30, 10   # seconds


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="demo", description="A STAR certificate series renewed, served, then cancelled.")
    parser.add_argument("--node", action=argparse.BooleanOptionalAction, default=None,
                        help="run the chart on a real node with a CDN edge (default: when a "
                             "node can run here); --no-node: operator and CA as host processes")
    parser.add_argument("--two-clusters", action="store_true",
                        help="two organizations: the DNO delegates to a CDN with its own "
                             "cluster over RFC 9115 (host processes, no node); prints what "
                             "each side sees")
    parser.add_argument("--rotations", type=int, default=3, help="renewals to show")
    parser.add_argument("--lifetime", type=int, default=None,
                        help=f"certificate lifetime, s (default {HOST_LIFETIME}, on a node "
                             f"{NODE_LIFETIME}, --two-clusters {TWO_CLUSTERS_LIFETIME})")
    parser.add_argument("--ca-port", type=int, default=14000, help="0 = any free port")
    parser.add_argument("--dns-port", type=int, default=5353, help="0 = any free port")
    parser.add_argument("--edge-port", type=int, default=8443,
                        help="the CDN edge's TLS port on a node; 0 = any free port")
    parser.add_argument("--non-interactive", dest="interactive", action="store_false",
                        help="exit after the cancellation instead of waiting for Ctrl-C")
    return parser.parse_args(argv)


def use_node(requested: bool | None) -> bool:
    missing = missing_requirements()
    if requested and missing:
        raise RuntimeError(f"--node: no node can run here: {'; '.join(missing)}")
    if requested is None and missing:
        say(f"no node can run here ({'; '.join(missing)}): operator and CA as host processes")
    return not missing if requested is None else requested


def choose_path(args: argparse.Namespace) -> bool:
    """Whether to run on a node; fills in the lifetime default for that path (on a node each
    certificate must outlive the kubelet's Secret refresh, up to ~15 s, with room to spare)."""
    node = use_node(args.node)
    if args.lifetime is None:
        args.lifetime = NODE_LIFETIME if node else HOST_LIFETIME
    return node


def two_clusters_settings(args: argparse.Namespace) -> None:
    """--two-clusters runs both clusters as host processes (a node would serve only one side);
    its lifetime default is the example CsrTemplate's minimum, for the quickest renewals."""
    if args.node:
        raise RuntimeError("--two-clusters runs host processes only: drop --node")
    if args.lifetime is None:
        args.lifetime = TWO_CLUSTERS_LIFETIME


def interrupt(signum: int, frame: object) -> None:
    """SIGTERM, and SIGHUP (the terminal closed), tear down like Ctrl-C does: by default they
    would end the process and leave the control plane, BIND and the node running."""
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not sys.stdin.isatty():
        args.interactive = False
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, interrupt)
    try:
        if args.two_clusters:
            two_clusters_settings(args)
            on_two_clusters.run(args, Path(tempfile.mkdtemp(prefix="star-demo-")))
        else:
            node = choose_path(args)
            (on_node if node else on_host).run(args, Path(tempfile.mkdtemp(prefix="star-demo-")))
    except KeyboardInterrupt:
        return 130
    except (TimeoutError, AssertionError, subprocess.SubprocessError, RuntimeError) as error:
        say(f"failed: {error}")
        return 1
    finally:
        TEARDOWN.done()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

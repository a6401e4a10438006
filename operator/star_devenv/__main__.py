"""`python -m star_devenv up|down|status` (star-env): the local environment for the demo and
for debugging by hand; a development tool, outside the product wheel."""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from star_devenv import environment
from star_devenv.paths import default_state_dir


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m star_devenv",
        description="Local control plane, BIND 9 and STAR CA on loopback")
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--state-dir", type=Path, default=default_state_dir(),
                        help="where PIDs, logs and credentials are kept (default: %(default)s)")
    parser.add_argument("--ca-port", type=int, default=14000,
                        help="CA HTTPS port; 0 picks a free one (examples/ expect 14000)")
    parser.add_argument("--dns-port", type=int, default=5353,
                        help="BIND 9 port; 0 picks a free one (examples/ expect 5353)")
    args = parser.parse_args(argv)
    if args.command == "up":
        info = environment.up(args.state_dir, environment.EnvironmentSettings(
            ca_port=args.ca_port, dns_port=args.dns_port))
        print(json.dumps(info, indent=2))
        print(f"\nexport KUBECONFIG={info['kubeconfig']}", file=sys.stderr)
        return 0
    if args.command == "down":
        environment.down(args.state_dir, lambda step: print(step, file=sys.stderr))
        print("stopped")
        return 0
    info = environment.status(args.state_dir)
    print(json.dumps(info, indent=2))
    running = [info["controlplane"].get("running"), info["dns"].get("running"),
               info["ca"].get("running")]
    return 0 if all(running) else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""``star-operator``: run the operator (a thin CLI over :func:`kopf.run`).

Flags cover what a Deployment needs to set; everything else comes from ``STAR_OPERATOR_*``
environment variables (see :mod:`star_operator.config`).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from collections.abc import Sequence

import kopf

from star_operator import config


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command line → options."""
    p = argparse.ArgumentParser(prog="star-operator", description=__doc__.splitlines()[0])
    scope = p.add_mutually_exclusive_group()
    scope.add_argument("-n", "--namespace", action="append", default=[],
                       help="watch this namespace (repeatable; glob patterns allowed)")
    scope.add_argument("-A", "--all-namespaces", action="store_true",
                       help="watch all namespaces (the default when no --namespace is given)")
    p.add_argument("--liveness", metavar="URL", default=None,
                   help="kopf liveness endpoint, e.g. http://0.0.0.0:8080/healthz")
    p.add_argument("--metrics-port", type=int, default=None,
                   help="Prometheus port (0 disables; default STAR_OPERATOR_METRICS_PORT or 9090)")
    p.add_argument("--peering", metavar="NAME", default=None,
                   help="use kopf peering object NAME (for more than one replica)")
    p.add_argument("--verbose", action="store_true", help="info-level logs")
    p.add_argument("--debug", action="store_true", help="debug-level logs")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = parse_args(argv)
    try:
        cfg = config.Config.from_env()
        if args.metrics_port is not None:
            cfg = dataclasses.replace(cfg, metrics_port=args.metrics_port)
            cfg.validate()
    except config.ConfigurationError as exc:
        print(f"star-operator: {exc}", file=sys.stderr)
        return 2
    config.set_current(cfg)
    level = logging.DEBUG if args.debug else logging.INFO if args.verbose else logging.WARNING
    kopf.configure(debug=args.debug, verbose=args.verbose or args.debug,
                   log_format=kopf.LogFormat.JSON)
    logging.getLogger().setLevel(level)

    import star_operator.main  # noqa: F401  (registers the handlers)

    kopf.run(
        clusterwide=not args.namespace,
        namespaces=args.namespace,
        liveness_endpoint=args.liveness,
        standalone=args.peering is None,
        peering_name=args.peering,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

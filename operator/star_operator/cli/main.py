"""Entry point of ``kubectl-star`` / ``python -m star_operator.cli``: arguments, the API client,
and one clear line (no traceback) for every failure."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import cancel, inspect_secret, renew, status
from .errors import ERROR, CliError

PROG = "kubectl star"
#: One module per command: ``register(subparsers, common)`` adds its parser (with
#: ``set_defaults(run=...)``), ``run(args, kube)`` returns the exit code.
COMMANDS = (status, renew, cancel, inspect_secret)


def common_options() -> argparse.ArgumentParser:
    """Options every command takes, before or after the command name (kubectl does not pass
    its own global flags to plugins, so the plugin reads them itself)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--kubeconfig", default=argparse.SUPPRESS, metavar="PATH",
                        help="kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)")
    common.add_argument("--context", default=argparse.SUPPRESS,
                        help="kubeconfig context (default: the current context)")
    common.add_argument("-n", "--namespace", default=argparse.SUPPRESS,
                        help="namespace (default: the context's namespace, else 'default')")
    return common


def build_parser() -> argparse.ArgumentParser:
    common = common_options()
    parser = argparse.ArgumentParser(
        prog=PROG, parents=[common],
        description="Status, renewal and Secret inspection for star-operator's StarOrders and "
                    "StarCertificates (like cert-manager's cmctl). Exit codes: 0 done, 1 error, "
                    "2 not possible on this path (e.g. renewing a native STAR order).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.register(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        from .kube import Kube
        kube = Kube(getattr(args, "kubeconfig", None), getattr(args, "context", None),
                    getattr(args, "namespace", None))
        return args.run(args, kube)
    except CliError as exc:
        print(f"kubectl-star: error: {exc.message}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `kubectl star status ... | head`
        return 0
    except Exception as exc:  # noqa: BLE001 -- one line, never a traceback
        print(f"kubectl-star: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return ERROR


if __name__ == "__main__":
    raise SystemExit(main())

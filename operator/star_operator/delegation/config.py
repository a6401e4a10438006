"""Front-end settings from flags, each with a ``STAR_DELEGATION_*`` environment default.

Parsed once at start; a bad value is a usage error (exit 2 with one line), never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from star_operator import timeutil

PREFIX = "STAR_DELEGATION_"
SA_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


class UsageError(ValueError):
    """A flag or environment value the front end cannot use."""


@dataclasses.dataclass(frozen=True)
class Config:
    """What the server needs; ``base_url`` empty means "from the request's Host"."""

    namespace: str
    listen_address: str = "0.0.0.0"
    port: int = 8443
    tls_cert: Path = Path("tls.crt")
    tls_key: Path = Path("tls.key")
    base_url: str = ""
    #: Advertised in ``meta.auto-renewal`` (RFC 8739 §3.2); per-delegation bounds apply on top.
    min_lifetime: int = 1
    max_duration: int = 365 * 86400
    #: Order URLs per page of an account's ``orders`` list (RFC 8555 §7.1.2.1).
    orders_page_size: int = 20


def _parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    def d(name: str, default: str | None = None) -> str | None:
        return env.get(PREFIX + name, default)

    p = argparse.ArgumentParser(prog="python -m star_operator.delegation",
                                description="RFC 9115 delegation front end (ACME server for "
                                            "CDNs) of the DNO's cluster.")
    p.add_argument("--namespace", default=d("NAMESPACE"),
                   help="namespace of the Delegations and StarOrders (default: the pod's)")
    p.add_argument("--listen-address", default=d("LISTEN_ADDRESS", "0.0.0.0"))
    p.add_argument("--port", default=d("PORT", "8443"))
    p.add_argument("--tls-cert", default=d("TLS_CERT"), help="PEM server certificate chain")
    p.add_argument("--tls-key", default=d("TLS_KEY"), help="PEM server private key")
    p.add_argument("--base-url", default=d("BASE_URL", ""),
                   help="public https://host[:port] of the front end (default: request Host)")
    p.add_argument("--min-lifetime", default=d("MIN_LIFETIME", "1s"))
    p.add_argument("--max-duration", default=d("MAX_DURATION", "365d"))
    p.add_argument("--orders-page-size", default=d("ORDERS_PAGE_SIZE", "20"),
                   help="order URLs per page of an account's orders list (Link rel=next)")
    return p


def _duration(value: str, flag: str) -> int:
    try:
        return timeutil.parse_duration(value)
    except ValueError as exc:
        raise UsageError(f"{flag}: {exc}") from None


def parse(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Flags + environment → Config; :class:`UsageError` on any unusable value."""
    env = os.environ if env is None else env
    args = _parser(env).parse_args(argv)
    namespace = args.namespace
    if not namespace and SA_NAMESPACE.exists():
        namespace = SA_NAMESPACE.read_text().strip()
    if not namespace:
        raise UsageError("--namespace is required outside a pod (or set "
                         f"{PREFIX}NAMESPACE)")
    try:
        port = int(args.port)
    except ValueError:
        raise UsageError(f"--port: {args.port!r} is not a number") from None
    if not 0 < port < 65536:
        raise UsageError(f"--port: {port} is out of range")
    try:
        page = int(args.orders_page_size)
    except ValueError:
        raise UsageError(f"--orders-page-size: {args.orders_page_size!r} is not a number"
                         ) from None
    if page < 1:
        raise UsageError(f"--orders-page-size: {page} must be at least 1")
    if not args.tls_cert or not args.tls_key:
        raise UsageError("--tls-cert and --tls-key are required (the front end speaks HTTPS "
                         "only)")
    cert, key = Path(args.tls_cert), Path(args.tls_key)
    for flag, path in (("--tls-cert", cert), ("--tls-key", key)):
        if not path.is_file():
            raise UsageError(f"{flag}: {path} is not a readable file")
    base = args.base_url.rstrip("/")
    if base and not base.startswith(("https://", "http://")):
        raise UsageError(f"--base-url: {base!r} must start with https://")
    return Config(namespace=namespace, listen_address=args.listen_address, port=port,
                  tls_cert=cert, tls_key=key, base_url=base,
                  min_lifetime=_duration(args.min_lifetime, "--min-lifetime"),
                  max_duration=_duration(args.max_duration, "--max-duration"),
                  orders_page_size=page)

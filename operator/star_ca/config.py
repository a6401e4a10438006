"""Settings of `star-ca serve`, from command-line flags with environment-variable defaults.

Every flag has a ``STAR_CA_*`` variable so the same image runs unchanged under Helm (env) and
from a shell (flags); flags win over the environment.
"""
from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from star_ca.profiles import Profiles, parse_profiles

KEY_TYPES = ("ecdsa-p256", "ecdsa-p384", "rsa-2048", "rsa-3072", "rsa-4096")


@dataclass(frozen=True)
class Config:
    """Everything the server needs to start; immutable once parsed."""

    listen_host: str = "127.0.0.1"
    listen_port: int = 14000
    data_dir: Path = Path("star-ca-data")
    dns_server: tuple[str, int] | None = None
    http01_port: int = 80
    caa_identities: tuple[str, ...] = ("star-ca.test",)
    caa_cache_max: int = 3600
    min_lifetime: int = 3600
    max_duration: int = 31536000
    lifetime_adjust: int = 0
    key_type: str = "ecdsa-p256"
    base_url: str | None = None
    tls_names: tuple[str, ...] = field(default_factory=tuple)
    allow_certificate_get: bool = True
    profiles: Profiles = Profiles()
    star: bool = True
    ari: bool = True
    dns_timeout: float = 5.0
    http01_timeout: float = 10.0


def parse_hostport(value: str, default_port: int | None = None) -> tuple[str, int]:
    """Split ``host:port`` (``[v6]:port`` allowed); raise ValueError with the offending text."""
    text = value.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host, port_text = text, ""
    if not port_text:
        if default_port is None:
            raise ValueError(f"missing port in {value!r}")
        return host, default_port
    port = int(port_text)
    if not host or not 0 < port < 65536:
        raise ValueError(f"bad host:port {value!r}")
    return host, port


def _split(text: str | None) -> list[str]:
    return [p.strip() for p in (text or "").split(",") if p.strip()]


def _switch(env: Mapping[str, str], name: str) -> bool:
    """An on/off environment variable: set and not ``0``/``false`` means on."""
    return env.get(name, "") not in ("", "0", "false")


def build_parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    """The `star-ca` CLI; defaults come from ``env`` so tests can pass their own."""
    p = argparse.ArgumentParser(prog="star-ca", description="STAR-capable ACME CA")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="run the CA over HTTPS")
    e = env.get
    s.add_argument("--listen", default=e("STAR_CA_LISTEN", "127.0.0.1:14000"),
                   help="HOST:PORT to serve HTTPS on (STAR_CA_LISTEN)")
    s.add_argument("--data-dir", default=e("STAR_CA_DATA_DIR", "star-ca-data"),
                   help="state directory: SQLite DB, CA keys, root.pem (STAR_CA_DATA_DIR)")
    s.add_argument("--dns-server", default=e("STAR_CA_DNS_SERVER"),
                   help="HOST:PORT queried for dns-01, CAA and http-01 addresses "
                        "(STAR_CA_DNS_SERVER; default: the system resolver)")
    s.add_argument("--http01-port", type=int, default=int(e("STAR_CA_HTTP01_PORT", "80")),
                   help="port http-01 validation connects to (STAR_CA_HTTP01_PORT)")
    s.add_argument("--caa-identity", action="append", default=None,
                   help="issuer domain this CA accepts in CAA issue/issuewild; repeatable "
                        "(STAR_CA_CAA_IDENTITIES, comma-separated)")
    s.add_argument("--caa-cache-max", type=int,
                   default=int(e("STAR_CA_CAA_CACHE_MAX", "3600")),
                   help="longest time in seconds a CAA answer is relied on, within its TTL; "
                        "0: ask DNS for every check (STAR_CA_CAA_CACHE_MAX)")
    s.add_argument("--min-lifetime", type=int, default=int(e("STAR_CA_MIN_LIFETIME", "3600")),
                   help="smallest STAR lifetime in seconds (STAR_CA_MIN_LIFETIME)")
    s.add_argument("--max-duration", type=int,
                   default=int(e("STAR_CA_MAX_DURATION", "31536000")),
                   help="largest STAR end-date - start-date in seconds (STAR_CA_MAX_DURATION)")
    s.add_argument("--lifetime-adjust", type=int,
                   default=int(e("STAR_CA_LIFETIME_ADJUST", "0")),
                   help="default STAR lifetime-adjust in seconds (STAR_CA_LIFETIME_ADJUST)")
    s.add_argument("--key-type", choices=KEY_TYPES, default=e("STAR_CA_KEY_TYPE", "ecdsa-p256"),
                   help="key type of the CA's root and intermediate (STAR_CA_KEY_TYPE)")
    s.add_argument("--base-url", default=e("STAR_CA_BASE_URL"),
                   help="external https://host:port the CA is reached at; default: taken from "
                        "each request's Host header (STAR_CA_BASE_URL)")
    s.add_argument("--tls-name", action="append", default=None,
                   help="extra DNS name/IP for the serving certificate; repeatable "
                        "(STAR_CA_TLS_NAMES, comma-separated)")
    s.add_argument("--no-certificate-get", action="store_true",
                   default=_switch(env, "STAR_CA_NO_CERTIFICATE_GET"),
                   help="do not offer unauthenticated star-certificate GET")
    s.add_argument("--profile", action="append", default=None, metavar="NAME=SECONDS",
                   help="offer ACME profile NAME whose certificates are valid SECONDS (or "
                        "30m, 160h, 45d); repeatable (STAR_CA_PROFILES, comma-separated)")
    s.add_argument("--default-profile", default=e("STAR_CA_DEFAULT_PROFILE"),
                   help="profile of orders that name none; default: the first "
                        "(STAR_CA_DEFAULT_PROFILE)")
    s.add_argument("--no-star", action="store_true", default=_switch(env, "STAR_CA_NO_STAR"),
                   help="act as an RFC 8555 CA: no auto-renewal in the directory, "
                        "auto-renewal in newOrder ignored (STAR_CA_NO_STAR)")
    s.add_argument("--no-ari", action="store_true", default=_switch(env, "STAR_CA_NO_ARI"),
                   help="do not offer ACME Renewal Information, RFC 9773 (STAR_CA_NO_ARI)")
    return p


def config_from_args(argv: Sequence[str] | None = None,
                     env: Mapping[str, str] | None = None) -> Config:
    """Parse ``argv`` (default sys.argv) with ``env`` (default os.environ) into a Config."""
    env = os.environ if env is None else env
    parser = build_parser(env)
    args = parser.parse_args(argv)
    try:
        host, port = parse_hostport(args.listen)
        dns = parse_hostport(args.dns_server, 53) if args.dns_server else None
        profiles = parse_profiles(args.profile or _split(env.get("STAR_CA_PROFILES")),
                                  args.default_profile)
    except ValueError as exc:
        parser.error(str(exc))
    caa = args.caa_identity or _split(env.get("STAR_CA_CAA_IDENTITIES")) or ["star-ca.test"]
    tls = args.tls_name or _split(env.get("STAR_CA_TLS_NAMES"))
    if args.min_lifetime < 1 or args.max_duration < args.min_lifetime or args.lifetime_adjust < 0:
        parser.error("need 1 <= min-lifetime <= max-duration and lifetime-adjust >= 0")
    if args.caa_cache_max < 0:
        parser.error("caa-cache-max must be >= 0 seconds")
    return Config(
        listen_host=host, listen_port=port, data_dir=Path(args.data_dir), dns_server=dns,
        http01_port=args.http01_port,
        caa_identities=tuple(c.lower().rstrip(".") for c in caa),
        caa_cache_max=args.caa_cache_max,
        min_lifetime=args.min_lifetime, max_duration=args.max_duration,
        lifetime_adjust=args.lifetime_adjust, key_type=args.key_type,
        base_url=args.base_url.rstrip("/") if args.base_url else None,
        tls_names=tuple(tls), allow_certificate_get=not args.no_certificate_get,
        profiles=profiles, star=not args.no_star, ari=not args.no_ari)

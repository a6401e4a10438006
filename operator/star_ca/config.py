"""Settings of `star-ca serve`, from command-line flags with environment-variable defaults.

Every flag has a ``STAR_CA_*`` variable so the same image runs unchanged under Helm (env) and
from a shell (flags); flags win over the environment, and what neither sets keeps the default
written once, in ``Config``. Every value is converted and checked here, flag or variable alike,
so a bad one (``STAR_CA_HTTP01_PORT=eighty``) ends the start with a usage error naming it
(exit status 2), not a traceback, and never a half-configured CA.
"""
from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

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
    #: postgresql:// URL of a database replicas share; None: SQLite in data_dir. It carries a
    #: password, so it is kept out of the repr (and out of every error message below).
    database_url: str | None = field(default=None, repr=False)


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


def _split(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def _items(raw: str | list[str]) -> list[str]:
    """A repeatable flag's values, or a comma-separated variable's."""
    return raw if isinstance(raw, list) else _split(raw)


def _int(low: int, high: int | None = None) -> Callable[[str], int]:
    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise ValueError("not an integer") from None
        if value < low or (high is not None and value > high):
            raise ValueError(f"must be {low}..{high}" if high is not None else f"must be >= {low}")
        return value
    return convert


def _switch(text: str) -> bool:
    """An on/off variable: ``1/true/yes/on`` or ``0/false/no/off`` (empty: off)."""
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("", "0", "false", "no", "off"):
        return False
    raise ValueError("want true or false")


def _key_type(text: str) -> str:
    if text not in KEY_TYPES:
        raise ValueError(f"want one of {', '.join(KEY_TYPES)}")
    return text


def _base_url(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("want https://host[:port]")
    return text.rstrip("/")


def _database_url(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("postgresql", "postgres") or not parts.hostname:
        raise ValueError("want postgresql://user:password@host[:port]/database")
    return text


def _names(raw: str | list[str]) -> tuple[str, ...]:
    return tuple(_items(raw))


def _issuer_domains(raw: str | list[str]) -> tuple[str, ...]:
    domains = tuple(c.lower().rstrip(".") for c in _items(raw))
    if not domains:
        raise ValueError("want at least one issuer domain")
    return domains


@dataclass(frozen=True)
class _Option:
    """One setting: its flag, its variable, and how its text becomes the Config field."""

    flag: str
    env: str
    field: str
    convert: Callable[[Any], Any]
    help: str
    repeat: bool = False  # repeatable flag; the variable is a comma-separated list
    switch: bool = False  # a flag without value; the Config field is its negation
    secret: bool = False  # its value is never echoed in an error


OPTIONS = (
    _Option("--listen", "STAR_CA_LISTEN", "listen", parse_hostport, "HOST:PORT to serve HTTPS on"),
    _Option("--data-dir", "STAR_CA_DATA_DIR", "data_dir", Path,
            "state directory: SQLite DB, CA keys, root.pem"),
    _Option("--database-url", "STAR_CA_DATABASE_URL", "database_url", _database_url,
            "postgresql://user:password@host[:port]/database that every replica of this CA "
            "shares; none: SQLite in the data directory, one process only", secret=True),
    _Option("--dns-server", "STAR_CA_DNS_SERVER", "dns_server",
            lambda text: parse_hostport(text, 53),
            "HOST:PORT queried for dns-01, CAA and http-01 addresses; none: the system "
            "resolver"),
    _Option("--http01-port", "STAR_CA_HTTP01_PORT", "http01_port", _int(1, 65535),
            "port http-01 validation connects to"),
    _Option("--caa-identity", "STAR_CA_CAA_IDENTITIES", "caa_identities", _issuer_domains,
            "issuer domain this CA accepts in CAA issue/issuewild", repeat=True),
    _Option("--caa-cache-max", "STAR_CA_CAA_CACHE_MAX", "caa_cache_max", _int(0),
            "longest time in seconds a CAA answer is relied on, within its TTL; 0: ask DNS "
            "for every check"),
    _Option("--min-lifetime", "STAR_CA_MIN_LIFETIME", "min_lifetime", _int(1),
            "smallest STAR lifetime in seconds"),
    _Option("--max-duration", "STAR_CA_MAX_DURATION", "max_duration", _int(1),
            "largest STAR end-date - start-date in seconds"),
    _Option("--lifetime-adjust", "STAR_CA_LIFETIME_ADJUST", "lifetime_adjust", _int(0),
            "default STAR lifetime-adjust in seconds"),
    _Option("--key-type", "STAR_CA_KEY_TYPE", "key_type", _key_type,
            "key type of the CA's root and intermediate: " + ", ".join(KEY_TYPES)),
    _Option("--base-url", "STAR_CA_BASE_URL", "base_url", _base_url,
            "external https://host:port the CA is reached at; none: taken from each "
            "request's Host header"),
    _Option("--tls-name", "STAR_CA_TLS_NAMES", "tls_names", _names,
            "extra DNS name/IP for the serving certificate", repeat=True),
    _Option("--no-certificate-get", "STAR_CA_NO_CERTIFICATE_GET", "allow_certificate_get",
            _switch, "do not offer unauthenticated star-certificate GET", switch=True),
    _Option("--no-star", "STAR_CA_NO_STAR", "star", _switch,
            "act as an RFC 8555 CA: no auto-renewal in the directory, auto-renewal in newOrder "
            "ignored", switch=True),
    _Option("--no-ari", "STAR_CA_NO_ARI", "ari", _switch,
            "do not offer ACME Renewal Information, RFC 9773", switch=True),
)
PROFILE_ENV, DEFAULT_PROFILE_ENV = "STAR_CA_PROFILES", "STAR_CA_DEFAULT_PROFILE"


def _dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def _default_text(option: _Option) -> str:
    if option.field == "listen":
        return f"{Config.listen_host}:{Config.listen_port}"
    value = getattr(Config, option.field, None)
    if isinstance(value, tuple):
        return ",".join(value) or "none"
    return "off" if option.switch else "none" if value is None else str(value)


def build_parser() -> argparse.ArgumentParser:
    """The `star-ca` CLI; every flag defaults to None, so "not given" is told apart."""
    p = argparse.ArgumentParser(prog="star-ca", description="STAR-capable ACME CA")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="run the CA over HTTPS")
    for o in OPTIONS:
        help_text = f"{o.help} ({o.env}; default {_default_text(o)})"
        if o.switch:
            s.add_argument(o.flag, action="store_const", const="1", default=None, help=help_text)
        elif o.repeat:
            s.add_argument(o.flag, action="append", default=None, help=help_text + "; repeatable")
        else:
            s.add_argument(o.flag, default=None, help=help_text)
    s.add_argument("--profile", action="append", default=None, metavar="NAME=SECONDS",
                   help="offer ACME profile NAME whose certificates are valid SECONDS (or "
                        f"30m, 160h, 45d); repeatable ({PROFILE_ENV}, comma-separated)")
    s.add_argument("--default-profile", default=None,
                   help=f"profile of orders that name none; default: the first "
                        f"({DEFAULT_PROFILE_ENV})")
    return p


def config_from_args(argv: Sequence[str] | None = None,
                     env: Mapping[str, str] | None = None) -> Config:
    """Parse ``argv`` (default sys.argv) with ``env`` (default os.environ) into a Config;
    a bad flag or variable exits with a usage error (status 2) that names it."""
    env = os.environ if env is None else env
    parser = build_parser()
    args = parser.parse_args(argv)
    values: dict[str, Any] = {}
    for o in OPTIONS:
        raw, source = getattr(args, _dest(o.flag)), o.flag
        if raw is None:  # an empty variable counts as unset, as a Deployment renders "no value"
            raw, source = env.get(o.env) or None, o.env
        if raw is None:
            continue
        try:
            values[o.field] = o.convert(raw)
        except ValueError as exc:
            parser.error(f"{source}: {exc}" if o.secret else f"{source} {raw!r}: {exc}")
        if o.switch:
            values[o.field] = not values[o.field]
    if "listen" in values:
        values["listen_host"], values["listen_port"] = values.pop("listen")
    try:
        values["profiles"] = parse_profiles(
            args.profile or _split(env.get(PROFILE_ENV, "")),
            args.default_profile or env.get(DEFAULT_PROFILE_ENV) or None)
    except ValueError as exc:
        parser.error(f"--profile / {PROFILE_ENV}: {exc}")
    config = Config(**values)
    if config.max_duration < config.min_lifetime:
        parser.error(f"max-duration ({config.max_duration}) must be >= min-lifetime "
                     f"({config.min_lifetime})")
    return config

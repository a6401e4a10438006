"""A CsrTemplate object, parsed into the policy StarOrders are checked against.

Parsing is pure and raises :class:`TemplateSpecError` with the field path, so the CsrTemplate's
Ready condition can name exactly what to fix (the CRD schema checks shape; this checks meaning).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from star_operator import timeutil
from star_operator.csr_template import CsrTemplate, DomainPolicy, TemplateError, load_template


class TemplateSpecError(ValueError):
    """The CsrTemplate spec is unusable; ``path`` is the spec field (e.g. ``spec.star``)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


@dataclasses.dataclass(frozen=True)
class SecretRef:
    """A namespaced Secret key."""

    namespace: str
    name: str
    key: str


@dataclasses.dataclass(frozen=True)
class StarBounds:
    """RFC 8739 limits the DNO sets for its delegations (seconds)."""

    min_lifetime: int
    max_lifetime: int
    max_duration: int


@dataclasses.dataclass(frozen=True)
class Rfc2136Settings:
    """Where and how dns-01 records are published."""

    server: str
    port: int
    tsig_key_name: str
    tsig_algorithm: str
    tsig_secret_ref: SecretRef
    zone: str | None


@dataclasses.dataclass(frozen=True)
class CaaPolicy:
    """``spec.caa``: CAA records (RFC 8659 with RFC 8657 parameters) the operator publishes and
    keeps at each of ``spec.domains`` so that only this template's CA, ACME account and dns-01
    can get certificates there (RFC 9115 §7.4: the CDN cannot pass a check on its own)."""

    #: The CA's CAA identity; None: the first of its directory's ``meta.caaIdentities``.
    issuer_domain: str | None
    #: Seconds between drift checks (a record someone edited is put back).
    check_interval: int
    #: TTL of the published records: also how long resolvers (and CAs) may keep a drifted one.
    ttl: int


@dataclasses.dataclass(frozen=True)
class TemplatePolicy:
    """Everything a StarOrder needs from its CsrTemplate (Secrets not yet read)."""

    name: str
    template: CsrTemplate
    domains: DomainPolicy
    bounds: StarBounds
    allowed_namespaces: tuple[str, ...]
    directory_url: str
    contact: tuple[str, ...]
    account_key_ref: SecretRef
    ca_bundle_ref: SecretRef | None
    rfc2136: Rfc2136Settings
    generation: int | None = None
    #: The ACME profile to request (``spec.acme.profile``), checked against ``meta.profiles``.
    profile: str | None = None
    #: CAA records to publish and keep (None: the operator leaves CAA alone).
    caa: CaaPolicy | None = None

    def allows_namespace(self, namespace: str) -> bool:
        """Whether StarOrders in ``namespace`` may use this template."""
        return "*" in self.allowed_namespaces or namespace in self.allowed_namespaces


def _ref(raw: Mapping[str, Any] | None, path: str, default_ns: str,
         default_key: str) -> SecretRef:
    if not raw or not raw.get("name"):
        raise TemplateSpecError(path, "a Secret reference with a name is required")
    return SecretRef(namespace=raw.get("namespace") or default_ns, name=raw["name"],
                     key=raw.get("key") or default_key)


def split_host_port(text: str, default_port: int = 53) -> tuple[str, int]:
    """'host:port', '[v6]:port', 'host' → (host, port)."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else default_port
    if text.count(":") == 1:
        host, port = text.split(":")
        return host, int(port)
    return text, default_port


def _duration(star: Mapping[str, Any], key: str, default: str, where: str = "spec.star") -> int:
    try:
        return timeutil.parse_duration(star.get(key) or default)
    except ValueError as exc:
        raise TemplateSpecError(f"{where}.{key}", str(exc)) from exc


def _caa(raw: Mapping[str, Any]) -> CaaPolicy | None:
    if not raw.get("publish"):
        return None
    interval = _duration(raw, "checkInterval", "5m", "spec.caa")
    if interval < 1:
        raise TemplateSpecError("spec.caa.checkInterval", "must be at least 1s")
    ttl = raw.get("ttl", 300)
    if not isinstance(ttl, int) or isinstance(ttl, bool) or not 1 <= ttl <= 86400:
        raise TemplateSpecError("spec.caa.ttl", f"{ttl!r} is not a number of seconds in "
                                                "1..86400")
    return CaaPolicy(issuer_domain=raw.get("issuerDomain") or None, check_interval=interval,
                     ttl=ttl)


def parse_template(body: Mapping[str, Any], default_namespace: str) -> TemplatePolicy:
    """Validate a CsrTemplate object; raise :class:`TemplateSpecError` on the first defect."""
    spec = body.get("spec") or {}
    try:
        template = load_template(spec.get("template") or {})
    except TemplateError as exc:
        path = f"spec.template.{exc.path}" if exc.path else "spec.template"
        raise TemplateSpecError(path, exc.message) from exc
    try:
        domains = DomainPolicy(list(spec.get("domains") or []))
    except (TypeError, ValueError) as exc:
        raise TemplateSpecError("spec.domains", str(exc)) from exc
    star = spec.get("star") or {}
    bounds = StarBounds(_duration(star, "minLifetime", "1s"), _duration(star, "maxLifetime", "7d"),
                        _duration(star, "maxDuration", "365d"))
    if bounds.min_lifetime > bounds.max_lifetime:
        raise TemplateSpecError("spec.star", "minLifetime exceeds maxLifetime")
    acme_spec = spec.get("acme") or {}
    if not acme_spec.get("directoryURL"):
        raise TemplateSpecError("spec.acme.directoryURL", "required")
    rfc = (spec.get("dns01") or {}).get("rfc2136") or {}
    if not rfc.get("nameserver"):
        raise TemplateSpecError("spec.dns01.rfc2136.nameserver", "required")
    try:
        host, port = split_host_port(rfc["nameserver"])
    except ValueError as exc:
        raise TemplateSpecError("spec.dns01.rfc2136.nameserver", str(exc)) from exc
    ca_ref = acme_spec.get("caBundleSecretRef")
    return TemplatePolicy(
        name=(body.get("metadata") or {}).get("name", ""),
        template=template, domains=domains, bounds=bounds,
        allowed_namespaces=tuple(spec.get("allowedNamespaces") or ()),
        directory_url=acme_spec["directoryURL"], contact=tuple(acme_spec.get("contact") or ()),
        account_key_ref=_ref(acme_spec.get("accountKeySecretRef"),
                             "spec.acme.accountKeySecretRef", default_namespace, "tls.key"),
        ca_bundle_ref=_ref(ca_ref, "spec.acme.caBundleSecretRef", default_namespace, "ca.crt")
        if ca_ref else None,
        rfc2136=Rfc2136Settings(
            server=host, port=port, tsig_key_name=rfc.get("tsigKeyName") or "",
            tsig_algorithm=rfc.get("tsigAlgorithm") or "hmac-sha256",
            tsig_secret_ref=_ref(rfc.get("tsigSecretSecretRef"),
                                 "spec.dns01.rfc2136.tsigSecretSecretRef", default_namespace,
                                 "secret"),
            zone=rfc.get("zone") or None),
        generation=(body.get("metadata") or {}).get("generation"),
        profile=acme_spec.get("profile") or None,
        caa=_caa(spec.get("caa") or {}),
    )

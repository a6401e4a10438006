"""Plain data objects for ACME resources, including the RFC 8739 STAR fields.

`acme.messages` decodes RFC 8555 objects, but its `Status` constant rejects the STAR status
`canceled` and its `Order` drops `auto-renewal` / `star-certificate`, so orders, authorizations
and the directory are parsed here as plain JSON. Every model keeps the server's JSON in `raw`
for fields this module does not know.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping

from star_operator.timeutil import format_time, parse_time_or_none

from .errors import AcmeProblem, AcmeProtocolError


@dataclass(frozen=True)
class StarMeta:
    """Directory `meta.auto-renewal` (RFC 8739 §3.2): the CA's STAR limits."""

    min_lifetime: int
    max_duration: int
    allow_certificate_get: bool = False


@dataclass(frozen=True)
class Directory:
    """The ACME directory: endpoint URLs plus the STAR capabilities, if any."""

    new_nonce: str
    new_account: str
    new_order: str
    revoke_cert: str | None
    key_change: str | None
    star: StarMeta | None
    raw: Mapping[str, Any]
    #: ACME profiles (draft-ietf-acme-profiles, `meta.profiles`): name -> description.
    profiles: Mapping[str, str] = field(default_factory=dict)
    #: The ARI endpoint (RFC 9773 `renewalInfo`), if the CA offers one.
    renewal_info: str | None = None

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> "Directory":
        """Parse a directory; a missing mandatory endpoint is a protocol error, named."""
        for key in ("newNonce", "newAccount", "newOrder"):
            if not isinstance(doc.get(key), str):
                raise AcmeProtocolError(f"ACME directory has no {key!r} URL")
        found = doc.get("meta")
        meta: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
        star = None
        ar = meta.get("auto-renewal")
        if isinstance(ar, Mapping):
            star = StarMeta(
                min_lifetime=int(ar.get("min-lifetime", 0)),
                max_duration=int(ar.get("max-duration", 0)),
                allow_certificate_get=bool(ar.get("allow-certificate-get", False)),
            )
        profiles = meta.get("profiles")
        renewal_info = doc.get("renewalInfo")
        return cls(
            new_nonce=doc["newNonce"],
            new_account=doc["newAccount"],
            new_order=doc["newOrder"],
            revoke_cert=doc.get("revokeCert"),
            key_change=doc.get("keyChange"),
            star=star,
            raw=dict(doc),
            profiles={str(k): str(v) for k, v in profiles.items()}
            if isinstance(profiles, Mapping) else {},
            renewal_info=renewal_info if isinstance(renewal_info, str) else None,
        )


@dataclass(frozen=True)
class AutoRenewal:
    """The `auto-renewal` object of a STAR newOrder (RFC 8739 §3.1.1). `lifetime` in seconds."""

    end_date: datetime
    lifetime: int
    start_date: datetime | None = None
    lifetime_adjust: int | None = None
    allow_certificate_get: bool = True

    def to_json(self) -> dict[str, Any]:
        """The JSON object for the newOrder payload (kebab-case keys, RFC 3339 dates)."""
        doc: dict[str, Any] = {
            "end-date": format_time(self.end_date),
            "lifetime": int(self.lifetime),
        }
        if self.start_date is not None:
            doc["start-date"] = format_time(self.start_date)
        if self.lifetime_adjust is not None:
            doc["lifetime-adjust"] = int(self.lifetime_adjust)
        if self.allow_certificate_get:
            doc["allow-certificate-get"] = True
        return doc


def _problem(doc: Any) -> AcmeProblem | None:
    return AcmeProblem.from_json(doc) if isinstance(doc, Mapping) else None


@dataclass(frozen=True)
class Order:
    """An ACME order; `star_certificate` and `auto_renewal` are set for STAR orders."""

    url: str
    status: str
    identifiers: tuple[dict[str, str], ...]
    authorizations: tuple[str, ...]
    finalize: str
    certificate: str | None
    star_certificate: str | None
    auto_renewal: dict[str, Any] | None
    expires: datetime | None
    error: AcmeProblem | None
    raw: Mapping[str, Any] = field(repr=False)

    @property
    def names(self) -> tuple[str, ...]:
        """The DNS identifier values, in the server's order."""
        return tuple(i.get("value", "") for i in self.identifiers if i.get("type") == "dns")

    @classmethod
    def from_json(cls, url: str, doc: Mapping[str, Any]) -> "Order":
        """Parse an order object fetched from (or created at) `url`."""
        if not isinstance(doc.get("status"), str):
            raise AcmeProtocolError(f"order at {url} has no status")
        ar = doc.get("auto-renewal")
        return cls(
            url=url,
            status=doc["status"],
            identifiers=tuple(
                dict(i) for i in doc.get("identifiers", []) if isinstance(i, Mapping)
            ),
            authorizations=tuple(str(a) for a in doc.get("authorizations", [])),
            finalize=str(doc.get("finalize", "")),
            certificate=doc.get("certificate"),
            star_certificate=doc.get("star-certificate"),
            auto_renewal=dict(ar) if isinstance(ar, Mapping) else None,
            expires=parse_time_or_none(doc.get("expires")),
            error=_problem(doc.get("error")),
            raw=dict(doc),
        )


@dataclass(frozen=True)
class Challenge:
    """One challenge of an authorization; `raw` is what `acme.challenges` decodes."""

    type: str
    url: str
    status: str
    token: str | None
    error: AcmeProblem | None
    raw: Mapping[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> "Challenge":
        """Parse a challenge object embedded in an authorization."""
        return cls(
            type=str(doc.get("type", "")),
            url=str(doc.get("url", "")),
            status=str(doc.get("status", "")),
            token=doc.get("token"),
            error=_problem(doc.get("error")),
            raw=dict(doc),
        )


@dataclass(frozen=True)
class Authorization:
    """An authorization; `domain` carries the `*.` prefix back for wildcard authorizations."""

    url: str
    identifier: dict[str, str]
    status: str
    challenges: tuple[Challenge, ...]
    wildcard: bool
    expires: datetime | None
    raw: Mapping[str, Any] = field(repr=False)

    @property
    def domain(self) -> str:
        """The name the certificate is for (`*.example.test` for a wildcard authorization)."""
        value = self.identifier.get("value", "")
        return f"*.{value}" if self.wildcard and not value.startswith("*.") else value

    def challenge(self, type_: str) -> Challenge | None:
        """The first challenge of the given type, if the server offered one."""
        return next((c for c in self.challenges if c.type == type_), None)

    @classmethod
    def from_json(cls, url: str, doc: Mapping[str, Any]) -> "Authorization":
        """Parse an authorization fetched from `url`."""
        ident = doc.get("identifier")
        if not isinstance(ident, Mapping) or not isinstance(doc.get("status"), str):
            raise AcmeProtocolError(f"authorization at {url} lacks identifier or status")
        return cls(
            url=url,
            identifier=dict(ident),
            status=doc["status"],
            challenges=tuple(
                Challenge.from_json(c) for c in doc.get("challenges", []) if isinstance(c, Mapping)
            ),
            wildcard=bool(doc.get("wildcard", False)),
            expires=parse_time_or_none(doc.get("expires")),
            raw=dict(doc),
        )


@dataclass(frozen=True)
class StarFetch:
    """One fetch of a `star-certificate` URL (RFC 8739 §3.3, §3.4, §4.3).

    `not_before` / `not_after` come from `Cert-Not-Before` / `Cert-Not-After` (falling back to the
    leaf certificate when a server omits them); `fresh_until` from `Cache-Control: max-age`,
    i.e. when to expect the next certificate; `None` when the server sent no freshness.
    """

    chain_pem: str
    not_before: datetime
    not_after: datetime
    fresh_until: datetime | None


@dataclass(frozen=True)
class Delegation:
    """An RFC 9115 §2.3.1.1 delegation object, as the DNO's front end shows it to its NDC.

    `csr_template` is the RFC 9115 §4 template (parsed by `star_operator.csr_template`, not
    here: this module only checks the shape); `cname_map` maps the DNO's names to the CDN's.
    """

    url: str
    csr_template: Mapping[str, Any]
    cname_map: Mapping[str, str]
    raw: Mapping[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, url: str, doc: Any) -> "Delegation":
        """Parse a delegation object; one without a `csr-template` object is a protocol error."""
        template = doc.get("csr-template") if isinstance(doc, Mapping) else None
        if not isinstance(template, Mapping):
            raise AcmeProtocolError(f"delegation at {url} has no csr-template object")
        cname_map = doc.get("cname-map")
        return cls(
            url=url,
            csr_template=dict(template),
            cname_map={str(k): str(v) for k, v in cname_map.items()}
            if isinstance(cname_map, Mapping) else {},
            raw=dict(doc),
        )

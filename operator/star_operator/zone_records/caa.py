"""CAA records that leave only the DNO able to get certificates for its names (RFC 9115 §7.4).

A CDN serves the DNO's names, so it could pass http-01 (or tls-alpn-01) for them at any CA and
get certificates of its own, outside any delegation the DNO can end. The RFC's answer: CAA
(RFC 8659) naming only the DNO's CA, RFC 8657 ``accounturi`` naming only the DNO's ACME account
and ``validationmethods=dns-01`` (the DNO alone controls the zone). One record per domain of the
template, at the domain itself: CAA lookups climb from a name towards the root, so it covers
every name below that has no CAA of its own::

    star.test. 300 IN CAA 0 issue "ca.test; accounturi=https://ca/a/1; validationmethods=dns-01"

No ``issuewild``: without one, ``issue`` governs wildcard names too (RFC 8659 §4.3).

:func:`keep` is one round of the template's CAA daemon: read each domain's CAA RRset, and where
it is not exactly the wanted record (absent, edited, or with records added), replace it in one
update and report what was there. Pure helpers (:func:`issue_value`, :func:`issuer`,
:func:`same_rrset`) are unit-tested.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, cast

import dns.exception
import dns.rdata
import dns.rdataclass
from dns.rdtypes.ANY.CAA import CAA

from star_operator.dns01 import Dns01Error
from star_operator.ordering.templates import CaaPolicy
from star_operator.zone_records.access import Zone, ZoneRecordError, dns_error

#: The only validation method the records allow: the one that needs the DNO's zone.
DNS_01 = "dns-01"


def issue_value(issuer_domain: str, account_url: str) -> str:
    """The CAA record (presentation format) allowing one CA, one account, dns-01 only."""
    return (f'0 issue "{issuer_domain}; accounturi={account_url}; '
            f'validationmethods={DNS_01}"')


def issuer(policy: CaaPolicy, directory: Mapping[str, Any]) -> str:
    """The CA's CAA identity: the template's ``issuerDomain``, else the first of the
    directory's ``meta.caaIdentities`` (RFC 8555 §7.1.1); ZoneRecordError when neither."""
    if policy.issuer_domain:
        return policy.issuer_domain
    meta = directory.get("meta")
    names = meta.get("caaIdentities") if isinstance(meta, Mapping) else None
    if isinstance(names, list) and names and isinstance(names[0], str) and names[0]:
        return names[0].lower().rstrip(".")
    raise ZoneRecordError("CAAIssuerUnknown",
                          "the CA's directory names no meta.caaIdentities; set "
                          "spec.caa.issuerDomain to the CA's CAA identity")


def _parsed(text: str) -> tuple[int, bytes, bytes] | str:
    try:
        rdata = dns.rdata.from_text(dns.rdataclass.IN, "CAA", text)
    except dns.exception.DNSException:
        return text  # unparseable text never equals the wanted record
    caa = cast(CAA, rdata)  # from_text of type CAA builds a CAA rdata
    return caa.flags, caa.tag.lower(), caa.value  # tags match case-insensitively


def same_rrset(found: list[str], wanted: str) -> bool:
    """Whether the RRset ``found`` is exactly the one record ``wanted`` (compared as CAA
    data, RFC 8659 §4.1: quoting and the case of the tag do not count as drift)."""
    return len(found) == 1 and _parsed(found[0]) == _parsed(wanted)


@dataclasses.dataclass(frozen=True)
class Repair:
    """A domain whose CAA RRset was not the wanted one, and what it held (``[]``: none)."""

    domain: str
    found: list[str]


async def keep(zone: Zone, value: str, ttl: int) -> list[Repair]:
    """Make every domain of the template hold exactly ``value``; returns what was changed."""
    repairs = []
    try:
        for domain in zone.policy.domains.domains:
            name = domain + "."
            found = await zone.dns.rrset(name, "CAA")
            if same_rrset(found, value):
                continue
            await zone.dns.replace_rrset(name, "CAA", [value], ttl=ttl)
            repairs.append(Repair(domain, found))
    except Dns01Error as exc:
        raise dns_error(exc) from exc
    return repairs

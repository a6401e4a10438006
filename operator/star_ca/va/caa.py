"""CAA checking: RFC 8659 (relevant RRset by climbing the tree, issue / issuewild, critical
flag) with RFC 8657 parameters ``accounturi`` and ``validationmethods``.

``evaluate`` is pure (unit-tested on its own); ``CaaChecker`` does the lookups, keeping each
answer for as long as its TTL allows (capped by ``--caa-cache-max``; 0 turns keeping off). The
check itself is never skipped: every finalize and every renewal evaluates the records, only the
DNS round trip is saved while an answer is fresh. A DNO that tightens CAA is obeyed once the
old answer's TTL has run out, as with any resolver; a lookup that fails is not kept.

Decision for STAR renewals (documented in docs/star-ca.md): every renewal re-checks CAA before
signing. A DNO can thereby stop a series through DNS alone; a renewal that CAA forbids stops the
series, marks the order ``invalid`` with a ``caa`` error, and the star-certificate URL answers
403 with that error from then on.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from star_ca.problems import problem
from star_ca.va.resolver import DnsClient, DnsLookupError, DnsRefused
from star_ca.ttl_cache import TtlCache

KNOWN_TAGS = {"issue", "issuewild", "iodef"}
CRITICAL = 0x80
PARAM_TAG = re.compile(r"[A-Za-z0-9](?:-*[A-Za-z0-9])*")  # RFC 8659 §4.2 ``tag``


@dataclass(frozen=True)
class CaaRecord:
    flags: int
    tag: str
    value: str


@dataclass(frozen=True)
class IssueValue:
    issuer: str  # "" when the value forbids all issuance (";")
    params: dict[str, str]


def parse_issue_value(value: str) -> IssueValue | None:
    """RFC 8659 §4.2 issue-value; None when malformed (a malformed record authorizes nobody)."""
    issuer, _, rest = value.partition(";")
    issuer = issuer.strip().lower().rstrip(".")
    params: dict[str, str] = {}
    for part in rest.split(";"):
        part = part.strip()
        if not part:
            continue
        tag, eq, val = part.partition("=")
        tag = tag.strip()
        if not eq or not PARAM_TAG.fullmatch(tag):
            return None
        params[tag.lower()] = val.strip()
    return IssueValue(issuer, params)


def evaluate(records: list[CaaRecord], *, wildcard: bool, identities: tuple[str, ...],
             account_uri: str, method: str) -> str | None:
    """None if ``records`` (the relevant RRset) permit issuance, else the reason it does not."""
    for r in records:
        if r.flags & CRITICAL and r.tag.lower() not in KNOWN_TAGS:
            return f"CAA record with unknown critical tag {r.tag!r} forbids issuance"
    issue = [r for r in records if r.tag.lower() == "issue"]
    issuewild = [r for r in records if r.tag.lower() == "issuewild"]
    relevant = issuewild if wildcard and issuewild else issue
    if not relevant:
        return None
    reasons = []
    for r in relevant:
        parsed = parse_issue_value(r.value)
        if parsed is None:
            reasons.append(f"malformed {r.tag} value {r.value!r}")
            continue
        if parsed.issuer not in identities:
            reasons.append(f"{r.tag} {parsed.issuer or ';'!r} does not name this CA")
            continue
        uri = parsed.params.get("accounturi")
        if uri is not None and uri != account_uri:
            reasons.append(f"{r.tag} accounturi {uri} is not this account ({account_uri})")
            continue
        methods = parsed.params.get("validationmethods")
        if methods is not None and method not in [m.strip() for m in methods.split(",")]:
            reasons.append(f"{r.tag} validationmethods={methods} excludes {method}")
            continue
        return None
    return "CAA forbids issuance: " + "; ".join(reasons)


@dataclass(frozen=True)
class _Lookup:
    """One name's CAA answer as kept in the cache."""

    records: tuple[CaaRecord, ...]
    refused: bool  # the server refused: the name lies above the zones it serves


class CaaChecker:
    """CAA for this CA's issuer domains (``identities``), answers kept in ``cache``."""

    def __init__(self, dns: DnsClient, identities: tuple[str, ...], max_ttl: float,
                 cache: TtlCache[str, _Lookup] | None = None) -> None:
        self.dns, self.identities, self.max_ttl = dns, identities, max_ttl
        self.cache: TtlCache[str, _Lookup] = cache if cache is not None else TtlCache()

    async def _lookup(self, name: str, below: float | None) -> tuple[_Lookup, float]:
        """``name``'s answer and its expiry, from the cache while fresh. A REFUSED above a
        name the server answered is kept as long as that lower answer (``below``): both say
        where the zone ends, and go stale together."""
        hit = self.cache.get(name)
        if hit is not None:
            return hit
        now = self.cache.clock()
        try:
            rdatas, ttl = await self.dns.caa(name)
        except DnsRefused:
            if below is None:
                raise
            lookup, expires = _Lookup((), True), below
        else:
            lookup = _Lookup(tuple(CaaRecord(r.flags, r.tag.decode(errors="replace"),
                                             r.value.decode(errors="replace")) for r in rdatas),
                             False)
            expires = now + min(ttl, self.max_ttl)
        self.cache.put(name, lookup, expires)
        return lookup, expires

    async def relevant_records(self, domain: str) -> list[CaaRecord]:
        """RFC 8659 §3: the CAA RRset of the closest name, climbing towards (not to) the root.

        When the configured server is authoritative-only (a DNO's own BIND in a private
        deployment or in tests), names above its zones are REFUSED. Once the server has
        answered for a lower name, a REFUSED further up means "outside the zones it serves" and
        ends the climb with no records; a REFUSED for the first name is a lookup failure
        (refuse issuance).
        """
        labels = domain.rstrip(".").lower().split(".")
        below: float | None = None
        for i in range(len(labels)):
            lookup, below = await self._lookup(".".join(labels[i:]), below)
            if lookup.refused:
                return []
            if lookup.records:
                return list(lookup.records)
        return []

    async def check(self, identifier: str, *, account_uri: str, method: str) -> str | None:
        """None when CAA permits ``identifier`` (``*.`` prefix = wildcard), else the reason.

        Raises DnsLookupError when the lookup fails: the caller refuses issuance then too.
        """
        wildcard = identifier.startswith("*.")
        domain = identifier[2:] if wildcard else identifier
        return evaluate(await self.relevant_records(domain), wildcard=wildcard,
                        identities=self.identities, account_uri=account_uri, method=method)

    async def subproblems(self, methods: dict[str, str], *, account_uri: str
                          ) -> list[dict[str, object]]:
        """Check every identifier (``methods`` maps identifier -> validation method used);
        one ``caa`` (or ``dns``) subproblem per refused identifier, empty when all are
        permitted."""
        out: list[dict[str, object]] = []
        for ident, method in methods.items():
            try:
                reason = await self.check(ident, account_uri=account_uri, method=method)
            except DnsLookupError as exc:
                out.append(problem("dns", f"CAA lookup for {ident} failed: {exc}",
                                   identifier=ident))
                continue
            if reason:
                out.append(problem("caa", f"{ident}: {reason}", identifier=ident))
        return out

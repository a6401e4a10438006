"""The DNO's own policy beside the template (RFC 9115 §4.1: "the IdO MUST apply
application-specific checks" when a DNS entry is ``*`` or ``**``).

A placeholder lets the client pick a name, so without this policy a client could ask for any name
the DNO's CA account can validate. The policy is a list of DNS suffixes: a client-chosen name is
acceptable if it equals a suffix or lies below it; a DNS wildcard (``*.cdn.star.test``) is judged
by its base name (``cdn.star.test``).
"""

from __future__ import annotations

from collections.abc import Sequence

from .names import is_dns_name, is_within, normalize_dns


class DomainPolicy:
    """DNS suffixes under which client-chosen (``*`` / ``**``) values may fall.

    An empty policy allows no client-chosen DNS names at all (templates with only literals still
    work): failing closed is the safe default for a delegation.
    """

    def __init__(self, domains: Sequence[str]) -> None:
        if isinstance(domains, str):  # DomainPolicy("a.test") would otherwise iterate letters
            raise TypeError("domains must be a sequence of DNS suffixes, not one string")
        normalized: list[str] = []
        for domain in domains:
            name = normalize_dns(domain)
            if not is_dns_name(name, allow_wildcard=False):
                raise ValueError(f"policy domain {domain!r} is not a DNS name")
            if name not in normalized:
                normalized.append(name)
        self._domains = tuple(normalized)

    @property
    def domains(self) -> tuple[str, ...]:
        """The normalised suffixes (lower case, no trailing dot)."""
        return self._domains

    def allows(self, name: str) -> bool:
        """True if ``name`` is a syntactically valid DNS name inside one of the suffixes."""
        name = normalize_dns(name)
        if not is_dns_name(name):
            return False
        base = name[2:] if name.startswith("*.") else name
        return any(is_within(base, domain) for domain in self._domains)

    def describe(self) -> str:
        """For messages: which suffixes are allowed."""
        return ", ".join(self._domains) if self._domains else "(no domains allowed)"

    def __repr__(self) -> str:
        return f"DomainPolicy({list(self._domains)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DomainPolicy) and set(other._domains) == set(self._domains)

    def __hash__(self) -> int:
        return hash(frozenset(self._domains))

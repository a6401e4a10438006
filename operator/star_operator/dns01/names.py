"""Pure name logic for dns-01: challenge record names and TXT values."""

from __future__ import annotations

from collections.abc import Iterable

import dns.exception
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import dns.tsig

from star_operator.dns01.base import Dns01Error, DnsFailure

CHALLENGE_LABEL = "_acme-challenge"


def identifier_name(domain: str) -> dns.name.Name:
    """The DNS name validated for ``domain``: a leading ``*.`` is dropped (RFC 8555 §8.4)."""
    text = domain.strip().rstrip(".")
    if text.startswith("*."):
        text = text[2:]
    if not text:
        raise Dns01Error(f"invalid domain {domain!r}: empty name", reason=DnsFailure.UPDATE_FAILED)
    if "*" in text:
        raise Dns01Error(
            f"invalid domain {domain!r}: a wildcard is only allowed as the whole leftmost label",
            reason=DnsFailure.UPDATE_FAILED,
        )
    try:
        name = dns.name.from_text(text)
    except (dns.exception.DNSException, UnicodeError) as exc:
        raise Dns01Error(
            f"invalid domain {domain!r}: {exc}", reason=DnsFailure.UPDATE_FAILED
        ) from exc
    if len(name) < 3:  # at least "label.tld."
        raise Dns01Error(
            f"invalid domain {domain!r}: a dns-01 identifier needs at least two labels",
            reason=DnsFailure.UPDATE_FAILED,
        )
    return name


def challenge_name(domain: str) -> dns.name.Name:
    """``_acme-challenge.<domain without *.>`` as an absolute dnspython name."""
    try:
        return dns.name.Name((CHALLENGE_LABEL.encode(),)).concatenate(identifier_name(domain))
    except dns.name.NameTooLong as exc:
        raise Dns01Error(
            f"invalid domain {domain!r}: the challenge name would be longer than 255 octets",
            reason=DnsFailure.UPDATE_FAILED,
        ) from exc


def challenge_record_name(domain: str) -> str:
    """The dns-01 record name: ``*.example.test`` → ``_acme-challenge.example.test``."""
    return challenge_name(domain).to_text(omit_final_dot=True)


def txt_rdata(value: str) -> dns.rdtypes.ANY.TXT.TXT:
    """A TXT rdata holding ``value`` as one character-string (no presentation-format quoting)."""
    try:
        raw = value.encode("ascii")
    except UnicodeEncodeError as exc:
        raise Dns01Error(
            f"invalid dns-01 TXT value {value!r}: not ASCII", reason=DnsFailure.UPDATE_FAILED
        ) from exc
    if not raw or len(raw) > 255:
        raise Dns01Error(
            f"invalid dns-01 TXT value of {len(raw)} octets (must be 1..255)",
            reason=DnsFailure.UPDATE_FAILED,
        )
    return dns.rdtypes.ANY.TXT.TXT(dns.rdataclass.IN, dns.rdatatype.TXT, [raw])


def txt_values(rdatas: Iterable[dns.rdtypes.ANY.TXT.TXT]) -> set[str]:
    """The values of TXT rdatas, each one's character-strings joined (RFC 7208 style)."""
    return {b"".join(r.strings).decode("ascii", errors="replace") for r in rdatas}


def normalize_algorithm(algorithm: str) -> dns.name.Name:
    """A TSIG HMAC algorithm name as dnspython expects it; BIND's short names are accepted."""
    allowed = {
        dns.tsig.HMAC_MD5,
        dns.tsig.HMAC_SHA1,
        dns.tsig.HMAC_SHA224,
        dns.tsig.HMAC_SHA256,
        dns.tsig.HMAC_SHA256_128,
        dns.tsig.HMAC_SHA384,
        dns.tsig.HMAC_SHA384_192,
        dns.tsig.HMAC_SHA512,
        dns.tsig.HMAC_SHA512_256,
    }
    text = algorithm.strip().lower()
    if text == "hmac-md5":
        return dns.tsig.HMAC_MD5
    try:
        name = dns.name.from_text(text)
    except dns.exception.DNSException:
        name = None
    if name not in allowed:
        names = sorted(a.to_text(omit_final_dot=True).lower() for a in allowed)
        raise Dns01Error(
            f"unsupported TSIG algorithm {algorithm!r}; use one of: {', '.join(names)}",
            reason=DnsFailure.SETTINGS_INVALID,
        )
    return name


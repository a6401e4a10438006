"""DNS-name syntax shared by the template loader, the domain policy and the CSR checks.

Template literals, policy suffixes and the names a client asks for must all be compared the same
way, so normalisation (lower case, no trailing root dot) and the syntax test live in one place.
Only ASCII LDH names are accepted: a certificate's dNSName is an IA5String holding A-labels, so a
U-label or an underscore can never be issued and is better refused early with a clear message.
"""

from __future__ import annotations

import re

_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def normalize_dns(name: str) -> str:
    """Lower-case ``name`` and drop one trailing root dot (DNS names are case-insensitive)."""
    name = name.strip().lower()
    return name[:-1] if name.endswith(".") else name


def is_dns_name(name: str, *, allow_wildcard: bool = True) -> bool:
    """True if ``name`` (already normalised) is an LDH host name, optionally ``*.``-prefixed.

    A DNS wildcard may only be the whole left-most label (RFC 6125 §6.4.3 as CAs apply it), and a
    bare ``*`` or a wildcard directly over a single label (``*.test``) is refused.
    """
    if not name or len(name) > 253 or not name.isascii():
        return False
    labels = name.split(".")
    if labels[0] == "*":
        if not allow_wildcard or len(labels) < 3:
            return False
        labels = labels[1:]
    return all(_LABEL.match(label) for label in labels)


def is_within(name: str, suffix: str) -> bool:
    """True if normalised ``name`` equals ``suffix`` or lies below it (label-aligned)."""
    return name == suffix or name.endswith("." + suffix)

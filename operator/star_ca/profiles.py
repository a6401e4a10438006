"""ACME profiles (draft-ietf-acme-profiles), as Let's Encrypt serves them.

A profile is a name the client puts in newOrder (``"profile": "shortlived"``) to choose what
kind of certificate it gets. Here a profile fixes one thing, the validity of ordinary
(non-STAR) certificates, which is what lets this CA stand in for a public CA whose only way to
short lifetimes is a profile (Let's Encrypt ``shortlived``: 160 h). Validities may be seconds
long so that tests can watch a whole certificate lifetime go by.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
DURATION = re.compile(r"^(\d+)([smhd]?)$")
UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_SPOKEN = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


class ProfileError(ValueError):
    """A newOrder names a profile this CA does not offer; ``str()`` lists the offered ones."""


def parse_duration(text: str) -> int:
    """Seconds from ``6``, ``6s``, ``30m``, ``160h`` or ``45d``; at least one second."""
    match = DURATION.match(text.strip())
    if match is None or int(match[1]) < 1:
        raise ValueError(f"bad duration {text!r}: want a positive number of seconds, "
                         f"or a number with s, m, h or d")
    return int(match[1]) * UNITS[match[2]]


def spoken(seconds: int) -> str:
    """``576000`` -> ``160 hours``: the largest unit that divides the duration evenly."""
    unit, size = next((u, s) for u, s in _SPOKEN if seconds % s == 0)
    count = seconds // size
    return f"{count} {unit}{'' if count == 1 else 's'}"


@dataclass(frozen=True)
class Profiles:
    """The profiles this CA offers, in the order they were configured, and the one an order
    that names none gets (None only when no profile is configured)."""

    offered: tuple[tuple[str, int], ...] = ()
    default: str | None = None

    def validity(self, name: str) -> int | None:
        """Certificate validity of profile ``name`` in seconds, None if it is not offered."""
        return dict(self.offered).get(name)

    def choose(self, requested: str | None) -> str | None:
        """The profile an order gets: the one it names, or the default; ProfileError for a
        name that is not offered."""
        if requested is None:
            return self.default
        if self.validity(requested) is None:
            known = ", ".join(name for name, _ in self.offered) or "none"
            raise ProfileError(f"profile {requested!r} is not offered by this CA "
                               f"(profiles: {known})")
        return requested

    def directory_meta(self) -> dict[str, str]:
        """``meta.profiles``: name -> human description that states the validity."""
        return {name: f"certificates valid for {spoken(secs)} ({secs} s)"
                      + (", the default" if name == self.default else "")
                for name, secs in self.offered}


def parse_profiles(items: Iterable[str], default: str | None) -> Profiles:
    """Profiles from ``NAME=DURATION`` items; ValueError for a bad item, a repeated name, or
    a default that is not among them. The default defaults to the first profile."""
    offered: list[tuple[str, int]] = []
    for item in items:
        name, eq, duration = item.partition("=")
        name = name.strip()
        if not eq or not NAME.match(name):
            raise ValueError(f"bad profile {item!r}: want NAME=SECONDS (e.g. short=6)")
        if any(name == seen for seen, _ in offered):
            raise ValueError(f"profile {name!r} is given twice")
        offered.append((name, parse_duration(duration)))
    if default is not None and all(default != name for name, _ in offered):
        raise ValueError(f"default profile {default!r} is not one of the profiles")
    return Profiles(tuple(offered), default or (offered[0][0] if offered else None))

"""What a CA offers, read from its directory, and which issuance path a StarOrder takes there.

Native STAR (RFC 8739 ``meta.auto-renewal``) stays the path wherever the CA has it: the CA then
re-issues by itself and cancellation ends the series. Everywhere else (every public CA today)
the operator emulates the series (:mod:`star_operator.series`), using the CA's ACME profiles
to get short lifetimes and ARI (RFC 9773) to time renewals, when the CA offers them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from star_operator import acme
from star_operator.constants import Mode

#: The modes under the names the ordering code reads; the vocabulary is ``constants.Mode``.
#: ``ORDINARY`` is ``spec.star: false``: one ordinary certificate (RFC 9115 §2.3.3), at any CA.
NATIVE, EMULATED, ORDINARY = Mode.NATIVE, Mode.EMULATED, Mode.ORDINARY
#: The modes in which the operator orders each certificate itself (revoked, not canceled).
SELF_ORDERED = frozenset({EMULATED, ORDINARY})


@dataclasses.dataclass(frozen=True)
class Capabilities:
    """The parts of a directory that decide the issuance path."""

    native_star: bool
    profiles: tuple[str, ...]
    ari: bool

    @classmethod
    def of(cls, directory: acme.Directory) -> Capabilities:
        return cls(native_star=directory.star is not None,
                   profiles=tuple(sorted(directory.profiles)),
                   ari=directory.renewal_info is not None)

    @property
    def mode(self) -> str:
        return NATIVE if self.native_star else EMULATED

    @property
    def summary(self) -> str:
        """One word for ``kubectl get csrtemplates``: ``STAR``, or ``Emulated`` plus extras."""
        if self.native_star:
            return "STAR"
        extras = [x for x, on in (("profiles", bool(self.profiles)), ("ARI", self.ari)) if on]
        return "+".join([EMULATED, *extras])

    def to_status(self) -> dict[str, Any]:
        return {"nativeStar": self.native_star, "profiles": list(self.profiles),
                "ari": self.ari, "mode": self.mode, "summary": self.summary}


def profile_problem(profile: str | None, caps: Capabilities) -> str | None:
    """Why the template's profile cannot be requested at this CA (None: it can, or none named).

    Never a silent fallback: a CA that ignored an unknown profile would issue its default,
    perhaps a 90-day certificate where a 6-day one was promised.
    """
    if not profile:
        return None
    if not caps.profiles:
        return (f"spec.acme.profile {profile!r}: the CA offers no ACME profiles "
                "(no meta.profiles in its directory)")
    if profile not in caps.profiles:
        return (f"spec.acme.profile {profile!r} is not offered by the CA "
                f"(meta.profiles: {', '.join(caps.profiles)})")
    return None

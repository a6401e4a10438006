"""A CsrTemplate's zone: its parsed policy and an RFC 2136 client with its TSIG key.

Every failure is a :class:`ZoneRecordError` with a condition reason (for DNS failures the
dns-01 ones, :class:`star_operator.dns01.DnsFailure`) and a message that names the Secret or
server but never holds the TSIG secret.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from star_operator import k8s
from star_operator import constants as c
from star_operator.dns01 import Dns01Error, Rfc2136Solver
from star_operator.errors import ReasonedError
from star_operator.ordering import accounts
from star_operator.ordering.templates import TemplatePolicy, TemplateSpecError, parse_template


class ZoneRecordError(ReasonedError):
    """A record could not be read, written or removed; ``reason`` for the condition."""


@dataclasses.dataclass(frozen=True)
class Zone:
    """What publishing in a template's zone needs."""

    policy: TemplatePolicy
    dns: Rfc2136Solver


def dns_error(exc: Dns01Error) -> ZoneRecordError:
    """The condition a DNS failure becomes (same reasons as for dns-01)."""
    return ZoneRecordError(exc.reason, str(exc))


async def zone_for(body: Mapping[str, Any], default_namespace: str) -> Zone:
    """The zone of a fetched CsrTemplate object."""
    name = (body.get("metadata") or {}).get("name", "")
    try:
        policy = parse_template(body, default_namespace)
    except TemplateSpecError as exc:
        raise ZoneRecordError("TemplateInvalid", f"CsrTemplate {name!r}: {exc}") from exc
    try:
        tsig = await accounts.read_tsig_secret(policy)
        return Zone(policy, accounts.rfc2136_client(policy, tsig))
    except accounts.CaSettingsError as exc:
        raise ZoneRecordError(exc.reason, exc.message) from exc
    except Dns01Error as exc:
        raise dns_error(exc) from exc


async def zone_of(template_name: str, default_namespace: str) -> Zone:
    """The zone of the CsrTemplate named ``template_name``."""
    body = await k8s.get_object(c.CSRTEMPLATE_PLURAL, None, template_name)
    if body is None:
        raise ZoneRecordError("TemplateNotFound",
                              f"CsrTemplate {template_name!r} not found")
    return await zone_for(body, default_namespace)

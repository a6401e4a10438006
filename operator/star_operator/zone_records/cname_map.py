"""RFC 9115 §2.3.2.1 cname-map: ``abc.ido.example. CNAME abc.ndc.example.`` in the DNO's zone
while the Delegation that carries the map is active, removed when it ends.

Called by the Delegation handler (:mod:`star_operator.handlers.delegation`): :func:`sync` on
create, update and resume, :func:`remove` from its finalizer. Idempotent: a record already as
wanted costs one query and no update, so a resumed or repeated call changes nothing.

Removal deletes only the value this map installed (an RFC 2136 delete of that one rdata): if the
DNO has since pointed the name elsewhere by hand, that record stays.
"""

from __future__ import annotations

from collections.abc import Mapping

from star_operator import config
from star_operator.csr_template.names import is_dns_name, normalize_dns
from star_operator.dns01 import Dns01Error
from star_operator.zone_records.access import Zone, ZoneRecordError, dns_error, zone_of

__all__ = ["ZoneRecordError", "remove", "sync"]


def normalize(mapping: Mapping[str, str] | None) -> dict[str, str]:
    """Names as absolute FQDNs, lower case (``www.star.test.``), for both sides of the map."""
    return {normalize_dns(k) + ".": normalize_dns(v) + "." for k, v in (mapping or {}).items()}


def check(mapping: Mapping[str, str], zone: Zone) -> None:
    """Every name is a host name, and every delegated name one the template's domains cover:
    a Delegation must not redirect names the DNO never delegated."""
    for name, target in mapping.items():
        for what, value in (("key", name), ("value", target)):
            if not is_dns_name(value.rstrip("."), allow_wildcard=False):
                raise ZoneRecordError("CnameMapInvalid",
                                      f"spec.cnameMap {what} {value!r} is not a host name")
        if not zone.policy.domains.allows(name.rstrip(".")):
            raise ZoneRecordError(
                "CnameMapInvalid", f"spec.cnameMap key {name!r} is outside the domains of "
                                   f"CsrTemplate {zone.policy.name!r} "
                                   f"({zone.policy.domains.describe()})")


async def _install(zone: Zone, name: str, target: str) -> None:
    if await zone.dns.rrset(name, "CNAME") == [target]:
        return
    await zone.dns.replace_rrset(name, "CNAME", [target])
    # A server keeps other data at a name and silently drops a CNAME beside it (RFC 2136
    # §3.4.2.2): only the answer tells whether the record is there.
    if await zone.dns.rrset(name, "CNAME") != [target]:
        raise ZoneRecordError(
            "CnameNotInstalled", f"the DNS server did not install {name} CNAME {target}: the "
                                 "name has other records, which a CNAME cannot share")


async def sync(template_name: str, wanted: Mapping[str, str] | None,
               installed: Mapping[str, str] | None = None, *,
               default_namespace: str | None = None) -> None:
    """Make the zone hold ``wanted``; entries of ``installed`` (the map before this change)
    that are no longer wanted are removed. Raises :class:`ZoneRecordError`."""
    want, had = normalize(wanted), normalize(installed)
    zone = await zone_of(template_name, default_namespace or config.get().namespace)
    check(want, zone)
    try:
        for name, target in sorted(want.items()):
            await _install(zone, name, target)
        for name, target in sorted(had.items()):
            if want.get(name) != target:
                await zone.dns.delete_values(name, "CNAME", [target])
    except Dns01Error as exc:
        raise dns_error(exc) from exc


async def remove(template_name: str, installed: Mapping[str, str] | None, *,
                 default_namespace: str | None = None) -> None:
    """Remove what ``installed`` put in the zone (the Delegation is being deleted). Raises
    :class:`ZoneRecordError`, e.g. ``TemplateNotFound`` when the template (and with it the way
    into the zone) is gone: the caller decides whether to keep waiting."""
    had = normalize(installed)
    if not had:
        return
    zone = await zone_of(template_name, default_namespace or config.get().namespace)
    try:
        for name, target in sorted(had.items()):
            await zone.dns.delete_values(name, "CNAME", [target])
    except Dns01Error as exc:
        raise dns_error(exc) from exc

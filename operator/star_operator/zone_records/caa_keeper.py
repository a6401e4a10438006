"""One round of a CsrTemplate's CAA daemon: publish, detect drift, repair, report.

The record names the template's ACME account, so it is built from the account the template
registered (the cached client of :mod:`star_operator.ordering.accounts`) and the CA's CAA
identity. Each round reads the template afresh (the daemon's view may be older than an edit),
and the report goes to the ``CAAPublished`` condition and ``status.caa``, written only when
they change, plus Events: ``CAAPublished`` (Normal) when the record is first put in place or
changes, ``CAADrift`` (Warning) when a record someone edited was put back.

Kept out of the Ready condition on purpose: the template's Ready says whether StarOrders can be
issued, which a DNS hiccup on CAA does not change.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from star_operator import acme, conditions, events, k8s
from star_operator import constants as c
from star_operator.ordering import accounts, failures
from star_operator.ordering.client_cache import AccountClients
from star_operator.zone_records import caa
from star_operator.zone_records.access import ZoneRecordError, zone_for

CONDITION = "CAAPublished"
#: A failed round is tried again this soon at the latest (the check interval may be hours).
RETRY_CAP = 30.0
#: How often to look again while the template's account is not registered yet (not Ready),
#: or while kopf has not yet stopped the daemon of a template that no longer asks for CAA.
ACCOUNT_WAIT = 2.0


def _describe(repairs: list[caa.Repair]) -> str:
    return "; ".join(f"{r.domain} held {r.found or 'no CAA record'}" for r in repairs)


async def _report(body: Mapping[str, Any], ok: bool, reason: str, message: str, *,
                  event: tuple[str, str], always: bool = False,
                  caa_status: Mapping[str, Any] | None = None) -> None:
    """Write the condition and ``status.caa`` if they changed; post ``event`` (type, reason)
    when the condition changed, or ``always``."""
    status = body.get("status") or {}
    cond = conditions.make_condition(CONDITION, ok, reason, message)
    old = conditions.get_condition(status.get("conditions"), CONDITION)
    fields: dict[str, Any] = {}
    if not conditions.same_condition(old, cond):
        fields["conditions"] = conditions.set_condition(status.get("conditions"), cond)
    if caa_status is not None and any((status.get("caa") or {}).get(k) != v
                                      for k, v in caa_status.items()):
        fields["caa"] = dict(caa_status)
    if fields:
        await k8s.patch_status(c.CSRTEMPLATE_PLURAL, None, body["metadata"]["name"], fields)
    if always or "conditions" in fields:
        events.poster(body)(event[0], event[1], message)


async def check_once(template_name: str, default_namespace: str,
                     logger: logging.Logger | logging.LoggerAdapter,
                     templates: AccountClients[str]) -> float | None:
    """Publish or repair the template's CAA records; seconds until the next round (None: the
    template is gone). ``templates`` is the operator's client cache, where the template's own
    reconcile registered the account."""
    body = await k8s.get_object(c.CSRTEMPLATE_PLURAL, None, template_name)
    if body is None:
        return None
    status = body.get("status") or {}
    if not conditions.is_true(status.get("conditions")):
        return ACCOUNT_WAIT  # the template's own reconcile registers the account first
    retry = RETRY_CAP
    try:
        zone = await zone_for(body, default_namespace)
        wanted = zone.policy.caa
        if wanted is None:  # just turned off: kopf stops the daemon on that same change
            return ACCOUNT_WAIT
        retry = min(RETRY_CAP, float(wanted.check_interval))
        client = await accounts.client_for(templates, zone.policy,
                                           await accounts.load_material(zone.policy))
        value = caa.issue_value(caa.issuer(wanted, (await client.directory()).raw),
                                str(client.account_url))
        repairs = await caa.keep(zone, value, wanted.ttl)
    except (ZoneRecordError, accounts.CaSettingsError) as exc:
        await _report(body, False, exc.reason, exc.message, event=("Warning", exc.reason))
        return retry
    except acme.AcmeError as exc:
        reason, message = failures.classify_order_error(exc)
        await _report(body, False, reason, message, event=("Warning", reason))
        return retry
    domains = list(zone.policy.domains.domains)
    kept = (status.get("caa") or {}).get("value") == value and conditions.is_true(
        status.get("conditions"), CONDITION)
    previous = dict(status.get("caa") or {})
    if repairs and kept:  # it was in place and someone changed it: say so, loudly
        found = _describe(repairs)
        logger.warning("CAA drift repaired: %s", found)
        await _report(body, True, "DriftRepaired", f"CAA record put back ({found}): {value}",
                      event=("Warning", "CAADrift"), always=True, caa_status={
                          "domains": domains, "value": value, "lastDrift": found,
                          "repairs": int(previous.get("repairs") or 0) + 1})
    elif repairs or not kept:
        await _report(body, True, "Published", f"CAA at {', '.join(domains)}: {value}",
                      event=("Normal", CONDITION),
                      caa_status={"domains": domains, "value": value})
    return float(wanted.check_interval)

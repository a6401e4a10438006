"""CsrTemplate: validate the DNO policy, make sure its ACME account exists, report Ready; keep
its CAA records when it asks for them (``spec.caa``)."""

from __future__ import annotations

import functools
from typing import Any

import kopf

from star_operator import acme, config, context, events, k8s, reporting
from star_operator import constants as c
from star_operator.backoff import Backoff
from star_operator.handlers import transient
from star_operator.ordering import accounts, capabilities, failures
from star_operator.ordering.client_cache import AccountClients
from star_operator.ordering.templates import TemplateSpecError, parse_template
from star_operator.zone_records import caa_keeper


#: The id of the CsrTemplate index, which is also the keyword kopf passes it to handlers under.
TEMPLATE_INDEX = "csrtemplates_by_name"


@kopf.index(c.GROUP, c.VERSION, c.CSRTEMPLATE_PLURAL, id=TEMPLATE_INDEX)
def csrtemplates_by_name(name: str, body: kopf.Body, **_: Any) -> dict[str, dict[str, Any]]:
    """Every CsrTemplate as the watch last saw it, for the StarOrder handlers
    (:class:`~star_operator.ordering.objects.WatchedTemplates`): kopf hands this index to every
    handler as the keyword :data:`TEMPLATE_INDEX`."""
    return {name: dict(body)}


async def _report(body: kopf.Body, ready: bool, reason: str, message: str,
                  event: str | None = None, **fields: Any) -> None:
    """Ready (plus fields) in status, and an Event of type ``event`` when that changed."""
    write = functools.partial(k8s.patch_status, c.CSRTEMPLATE_PLURAL, None,
                              body["metadata"]["name"])
    await reporting.report(body.get("status"), ready, reason, message,
                           generation=body.get("metadata", {}).get("generation"), write=write,
                           post_event=events.poster(body), event=event, fields=fields)


@kopf.on.resume(c.GROUP, c.VERSION, c.CSRTEMPLATE_PLURAL, id="reconcile")
@kopf.on.create(c.GROUP, c.VERSION, c.CSRTEMPLATE_PLURAL, id="reconcile")
@kopf.on.update(c.GROUP, c.VERSION, c.CSRTEMPLATE_PLURAL, id="reconcile")
async def reconcile(body: kopf.Body, retry: int, logger: kopf.Logger, memo: kopf.Memo,
                    **_: Any) -> None:
    """Template valid → account key Secret present → account registered → CA capabilities
    (native STAR or emulated; the profile checked against ``meta.profiles``)."""
    cfg = config.get()
    delay = Backoff.from_config(cfg).delay(retry + 1)
    with transient.retried_later(delay):
        await _reconcile(body, delay, logger, context.of(memo).templates)


async def _reconcile(body: kopf.Body, delay: float, logger: kopf.Logger,
                     templates: AccountClients[str]) -> None:
    """The steps; every refusal is reported with its own reason before retrying later."""
    cfg = config.get()
    try:
        policy = parse_template(body, cfg.namespace)
    except TemplateSpecError as exc:
        await _report(body, False, "TemplateInvalid", str(exc), event="Warning")
        return  # only an edit can fix it, and an edit re-runs this handler
    try:
        material = await accounts.load_material(policy, create_key=True)
        client = await accounts.client_for(templates, policy, material)
        directory = await client.directory()
    except accounts.CaSettingsError as exc:
        await _report(body, False, exc.reason, exc.message, event="Warning")
        raise kopf.TemporaryError(exc.message, delay=delay) from exc
    except acme.AcmeError as exc:
        reason, message = failures.classify_order_error(exc)
        await _report(body, False, reason, message, event="Warning")
        raise kopf.TemporaryError(message, delay=delay) from exc
    except ValueError as exc:
        await _report(body, False, "CAUnreachable", str(exc), event="Warning")
        raise kopf.TemporaryError(str(exc), delay=delay) from exc
    caps = capabilities.Capabilities.of(directory)
    problem = capabilities.profile_problem(policy.profile, caps)
    if problem:
        await _report(body, False, "InvalidProfile", problem, event="Warning",
                      capabilities=caps.to_status())
        raise kopf.TemporaryError(problem, delay=max(delay, 60.0))
    star = None
    if directory.star is not None:
        star = {"minLifetime": directory.star.min_lifetime,
                "maxDuration": directory.star.max_duration,
                "allowCertificateGet": directory.star.allow_certificate_get}
    path = ("native STAR (RFC 8739)" if caps.native_star else
            "emulated STAR series: one ordinary order per certificate"
            + (f", profile {policy.profile!r}" if policy.profile else "")
            + (", renewals timed by ARI" if caps.ari else ""))
    await _report(body, True, "AccountRegistered", f"ACME account {client.account_url} at "
                                                    f"{policy.directory_url}; {path}",
                  accountURL=client.account_url, autoRenewal=star,
                  capabilities=caps.to_status())
    logger.info("CsrTemplate ready, account %s", client.account_url)


@kopf.on.delete(c.GROUP, c.VERSION, c.CSRTEMPLATE_PLURAL, id="forget", optional=True)
async def forget(name: str, memo: kopf.Memo, **_: Any) -> None:
    """Drop the cached ACME client (the account key Secret is kept: it identifies the DNO)."""
    await context.of(memo).templates.forget(name)


def _caa_requested(spec: kopf.Spec, **_: Any) -> bool:
    return bool((spec.get("caa") or {}).get("publish"))


@kopf.daemon(c.GROUP, c.VERSION, c.CSRTEMPLATE_PLURAL, id="caa", when=_caa_requested,
             cancellation_timeout=10.0)
async def keep_caa(name: str, stopped: kopf.DaemonStopped, logger: kopf.Logger,
                   memo: kopf.Memo, **_: Any) -> None:
    """RFC 9115 §7.4 CAA records: published, then checked every ``spec.caa.checkInterval``
    and put back when edited (:mod:`star_operator.zone_records.caa_keeper`)."""
    namespace, templates = config.get().namespace, context.of(memo).templates
    while not stopped:
        with transient.retried_later(caa_keeper.RETRY_CAP):
            delay = await caa_keeper.check_once(name, namespace, logger, templates)
        if delay is None:
            return
        await stopped.wait(delay)

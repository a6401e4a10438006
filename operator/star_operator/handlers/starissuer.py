"""StarIssuer: connect to the DNO's delegation front end and say what it offers, in status.

The StarOrders naming the issuer do the same connection themselves (:mod:`..ordering.issuers`
caches it), so this handler is what a CDN's user reads first: whether the binding was
accepted, which delegation is in use and what its CSR template allows.
"""

from __future__ import annotations

import functools
from typing import Any

import kopf

from star_operator import acme, config, context, events, k8s, reporting
from star_operator import constants as c
from star_operator.backoff import Backoff
from star_operator.handlers import transient
from star_operator.ordering import accounts, issuers

#: A refusal (binding, delegation, template) needs the DNO or the user; re-checked this often.
RECHECK_DELAY = 300.0


async def _report(body: kopf.Body, ready: bool, reason: str, message: str,
                  **fields: Any) -> None:
    """Ready (plus fields) in status; a Warning Event when a refusal is new."""
    meta = body["metadata"]
    write = functools.partial(k8s.patch_status, c.STARISSUER_PLURAL, meta["namespace"],
                              meta["name"])
    await reporting.report(body.get("status"), ready, reason, message,
                           generation=meta.get("generation"), write=write,
                           post_event=events.poster(body),
                           event=None if ready else "Warning", fields=fields)


@kopf.on.resume(c.GROUP, c.VERSION, c.STARISSUER_PLURAL, id="reconcile")
@kopf.on.create(c.GROUP, c.VERSION, c.STARISSUER_PLURAL, id="reconcile")
@kopf.on.update(c.GROUP, c.VERSION, c.STARISSUER_PLURAL, id="reconcile")
async def reconcile(body: kopf.Body, retry: int, memo: kopf.Memo, **_: Any) -> None:
    """Account (with the binding) → delegation → template, each refusal with its reason."""
    cfg = config.get()
    delay = Backoff.from_config(cfg).delay(retry + 1)
    with transient.retried_later(delay):
        try:
            front = await issuers.connect(context.of(memo).issuers, issuers.parse_issuer(body))
        except (issuers.IssuerError, accounts.CaSettingsError) as exc:
            await _report(body, False, exc.reason, exc.message)
            raise kopf.TemporaryError(exc.message, delay=RECHECK_DELAY) from exc
        except acme.AcmeError as exc:
            reason = ("FrontEndUnreachable" if isinstance(exc, acme.AcmeConnectionError)
                      else "FrontEndError")
            await _report(body, False, reason, str(exc))
            raise kopf.TemporaryError(str(exc), delay=delay) from exc
    await _report(body, True, "DelegationFound",
                  f"account {front.client.account_url} at {body['spec']['directoryURL']}; "
                  f"ordering under delegation {front.delegation.url}",
                  accountURL=front.client.account_url, delegationURL=front.delegation.url,
                  csrTemplate=dict(front.delegation.csr_template),
                  cnameMap=dict(front.delegation.cname_map))

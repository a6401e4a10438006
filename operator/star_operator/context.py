"""What one operator process shares between its handlers, passed down explicitly.

Built by the kopf startup handler and put in kopf's ``memo`` (:func:`install`), which kopf
hands to every handler (a shallow copy per object, so this one instance is shared); handlers
take it out with :func:`of` and pass its parts to the domain code, which never reaches for a
module global to find them. Cleanup closes it. Each operator run gets its own, so the tests'
KopfRunner threads (one event loop each) do not share clients or semaphores.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import MutableMapping
from typing import Any

from star_operator import config
from star_operator.ordering.client_cache import AccountClients
from star_operator.secrets import writer
from star_operator.secrets.handoff import SecretHandoff
from star_operator.secrets.read_cache import TtlSecretCache

#: The key in kopf's memo.
MEMO_KEY = "star_operator"


@dataclasses.dataclass(frozen=True)
class OperatorContext:
    """The operator's ACME client caches, its bound on concurrent issuances, its cache of the
    CsrTemplates' Secrets and the Secrets handed from StarOrders to their StarCertificates."""

    #: One registered client per CsrTemplate name (the DNO's account at its CA).
    templates: AccountClients[str]
    #: One registered client per StarIssuer (namespace, name) (the CDN's account at the
    #: DNO's delegation front end).
    issuers: AccountClients[tuple[str, str]]
    #: StarOrder reconciliations in flight at once: 1,000 StarOrders applied together queue
    #: here instead of each waiting on the API server's and the CA's connection pools until
    #: their timeouts fire (``MAX_CONCURRENT_ISSUANCES``).
    issuance_slots: asyncio.Semaphore
    #: The CsrTemplates' Secrets (account key, CA bundle, TSIG key), read once per
    #: ``read_cache.DEFAULT_TTL`` for all their StarOrders rather than once per StarOrder.
    template_secrets: TtlSecretCache
    #: The Secrets StarOrders just staged keys in, for their StarCertificates' first cycles.
    staged_secrets: SecretHandoff

    @classmethod
    def create(cls, cfg: config.Config) -> OperatorContext:
        return cls(templates=AccountClients(), issuers=AccountClients(),
                   issuance_slots=asyncio.Semaphore(cfg.max_concurrent_issuances),
                   template_secrets=TtlSecretCache(writer.API_SERVER),
                   staged_secrets=SecretHandoff())

    async def close(self) -> None:
        """Close every cached client (operator cleanup)."""
        await self.templates.close_all()
        await self.issuers.close_all()


def install(memo: MutableMapping[str, Any], context: OperatorContext) -> None:
    """Put ``context`` where every handler's ``memo`` will have it (call at startup)."""
    memo[MEMO_KEY] = context


def of(memo: MutableMapping[str, Any]) -> OperatorContext:
    """The context a handler's ``memo`` carries; a handler running without the startup
    handler having run is a wiring bug, said as such rather than as a KeyError."""
    context = memo.get(MEMO_KEY)
    if not isinstance(context, OperatorContext):
        raise RuntimeError("star-operator's startup handler has not run: no OperatorContext "
                           "in kopf's memo")
    return context

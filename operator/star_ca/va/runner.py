"""Runs challenge validations in the background and records their outcome.

A challenge POST flips the challenge to ``processing`` and starts the check; the handler
answers with the outcome when the check ends within a short bound (``outcome_within``), else
with ``processing`` and the client polls. Clients look at the authorization right after the
challenge POST: a dns-01 check against the DNO's DNS takes milliseconds, so answering after it
spares them a Retry-After wait and the CA a poll. Challenges still ``processing`` after a
restart are resumed at start-up.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import aiohttp

from star_ca.config import Config
from star_ca.db import Challenge, Store
from star_ca.lifecycle import advance
from star_ca.problems import problem
from star_ca.va.challenges import ValidationFailure, validate_dns01, validate_http01
from star_ca.va.resolver import DnsClient

log = logging.getLogger(__name__)


class Validator:
    def __init__(self, config: Config, store: Store, dns: DnsClient) -> None:
        self.config, self.store, self.dns = config, store, dns
        self._tasks: set[asyncio.Task[Challenge | None]] = set()
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=200, force_close=True))
        for chall in await self.store.challenges_in("processing"):
            self.submit(chall)

    async def close(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    def submit(self, chall: Challenge) -> asyncio.Task[Challenge | None]:
        task = asyncio.get_running_loop().create_task(self._run(chall.id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def outcome_within(self, chall: Challenge, seconds: float) -> Challenge:
        """Start validating ``chall``; the challenge as recorded when the check ends within
        ``seconds``, else ``chall`` as it is (``processing``; the check goes on)."""
        task = self.submit(chall)
        done, _ = await asyncio.wait({task}, timeout=seconds)
        if done and not task.cancelled() and task.exception() is None:
            return task.result() or chall
        return chall

    async def _check(self, chall: Challenge, identifier: str, thumbprint: str) -> None:
        key_auth = f"{chall.token}.{thumbprint}"
        if chall.type == "dns-01":
            await validate_dns01(self.dns, identifier, key_auth)
        else:
            assert self._session is not None
            await validate_http01(self._session,
                                  self.dns if self.config.dns_server else None, identifier,
                                  self.config.http01_port, chall.token, key_auth,
                                  self.config.http01_timeout)

    async def _run(self, chall_id: str) -> Challenge | None:
        chall = await self.store.challenge(chall_id)
        authz = await self.store.authz(chall.authz_id) if chall else None
        account = await self.store.account(authz.account_id) if authz else None
        if chall is None or authz is None or account is None:
            return None
        failure: dict[str, Any] | None
        try:
            await self._check(chall, authz.identifier, account.thumbprint)
        except ValidationFailure as exc:
            failure = problem(exc.type, exc.detail, identifier=authz.identifier)
        except Exception as exc:  # never let a validation bug take the CA down
            log.exception("validation of %s crashed", chall_id)
            failure = problem("serverInternal", f"validation error: {exc}",
                              identifier=authz.identifier)
        else:
            failure = None
        found = await self.store.order_with_authzs(authz.order_id)
        order, authzs = found if found else (None, [])
        chall.validated = time.time()
        if failure is None:
            chall.status, authz.status, authz.method = "valid", "valid", chall.type
        else:
            chall.status, chall.error, authz.status = "invalid", failure, "invalid"
            if order is not None and order.status == "pending":
                order.status = "invalid"
                order.error = problem(failure["type"].rsplit(":", 1)[1],
                                      f"authorization for {authz.identifier} failed",
                                      subproblems=[failure])
        if order is not None:  # the order's outcome commits with the validation's
            advance(order, [authz if a.id == authz.id else a for a in authzs], chall.validated)
        await self.store.save_validation(chall, authz, order)
        return chall

"""Wire the parts together and serve HTTPS until SIGTERM/SIGINT.

Start-up order matters for crash safety: the hierarchy is loaded (or created and committed)
before anything is served, root.pem is written atomically, and the scheduler starts only after
the listener is up, so a restarted CA answers immediately and then catches up on renewals and
finishes any order a crash left in ``processing`` (star_ca.issuance). On a database replicas
share, that recovery runs every ``RECOVERY_PERIOD`` for the orders a peer has been finalizing
for longer than ``STALE_FINALIZE`` (it died), since no restart of the dead one may come.
"""
from __future__ import annotations

import asyncio
import logging
import signal
import ssl
import sys
import time
from urllib.parse import urlsplit

from aiohttp import web

from star_ca.ca import pki
from star_ca.ca.issuer import Issuer
from star_ca.config import Config
from star_ca.db import open_store
from star_ca.issuance import recover_processing
from star_ca.services import Services
from star_ca.star.cache import StarCache
from star_ca.star.scheduler import Scheduler
from star_ca.va.caa import CaaChecker
from star_ca.va.resolver import DnsClient
from star_ca.va.runner import Validator
from star_ca.wfe.app import make_app
from star_ca.wfe.nonces import Nonces, NonceStore, SharedNonces

log = logging.getLogger("star_ca")
DB_FILE = "star-ca.sqlite3"
RECOVERY_PERIOD = 30.0
STALE_FINALIZE = 60.0  # a finalize takes well under a second; older means its replica died
SHARED_CACHE_TRUST = 1.0  # seconds a replica serves a cached star-certificate answer


def serving_names(config: Config) -> list[str]:
    names = ["localhost", "127.0.0.1", "::1"]
    if config.listen_host not in ("0.0.0.0", "::", ""):
        names.append(config.listen_host)
    if config.base_url:
        host = urlsplit(config.base_url).hostname
        if host:
            names.append(host)
    return names + list(config.tls_names)


async def build_services(config: Config) -> tuple[Services, pki.Hierarchy]:
    config.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    store = await open_store(config.database_url, config.data_dir / DB_FILE)
    hierarchy = await pki.load_or_create(store, config.key_type)
    pki.write_atomic(config.data_dir / "root.pem", hierarchy.root_pem)
    dns = DnsClient(config.dns_server, config.dns_timeout)
    issuer = Issuer(hierarchy)
    star_cache = StarCache(trust_for=SHARED_CACHE_TRUST if store.shared else None)
    caa = CaaChecker(dns, config.caa_identities, config.caa_cache_max)
    nonces: Nonces = await SharedNonces.open(store) if store.shared else NonceStore()
    services = Services(config=config, store=store, nonces=nonces, issuer=issuer, dns=dns,
                        caa=caa, validator=Validator(config, store, dns),
                        scheduler=Scheduler(config, store, issuer, caa, star_cache),
                        star_cache=star_cache)
    return services, hierarchy


async def recover(services: Services) -> None:
    """Finish the orders a crash left in ``processing``: once at start on a database of this
    process alone; on a shared one, a dead peer's, for as long as this replica runs."""
    if not services.store.shared:
        await recover_processing(services)
        return
    while True:
        try:
            await recover_processing(services, started_before=time.time() - STALE_FINALIZE)
        except Exception:  # the database away for a while: try again next period
            log.exception("recovery of orders left in processing failed; retrying")
        await asyncio.sleep(RECOVERY_PERIOD)


async def serve(config: Config) -> None:
    services, hierarchy = await build_services(config)
    chain, key = pki.write_serving_files(hierarchy, config.data_dir / "tls",
                                         serving_names(config))
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(chain, key)
    runner = web.AppRunner(make_app(services), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, config.listen_host, config.listen_port, ssl_context=ctx,
                       reuse_address=True)
    await site.start()
    await services.validator.start()
    services.scheduler.start()
    recovery = asyncio.create_task(recover(services))  # orders a crash left behind
    host = config.listen_host if ":" not in config.listen_host else f"[{config.listen_host}]"
    directory = (config.base_url or f"https://{host}:{config.listen_port}") + "/directory"
    print(f"star-ca: serving {directory} (root: {config.data_dir / 'root.pem'})", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        recovery.cancel()
        await asyncio.gather(recovery, return_exceptions=True)
        await services.scheduler.close()
        await services.validator.close()
        await services.dns.close()
        await runner.cleanup()
        await services.store.close()


def main(config: Config) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(config))
    return 0

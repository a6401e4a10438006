"""Wire the parts together and serve HTTPS until SIGTERM/SIGINT.

Start-up order matters for crash safety: the hierarchy is loaded (or created and committed)
before anything is served, root.pem is written atomically, and the scheduler starts only after
the listener is up, so a restarted CA answers immediately and then catches up on renewals and
finishes any order a crash left in ``processing`` (star_ca.issuance).
"""
from __future__ import annotations

import asyncio
import logging
import signal
import ssl
import sys
from urllib.parse import urlsplit

from aiohttp import web

from star_ca.ca import pki
from star_ca.ca.issuer import Issuer
from star_ca.config import Config
from star_ca.db import Store
from star_ca.issuance import recover_processing
from star_ca.services import Services
from star_ca.star.cache import StarCache
from star_ca.star.scheduler import Scheduler
from star_ca.va.caa import CaaChecker
from star_ca.va.resolver import DnsClient
from star_ca.va.runner import Validator
from star_ca.wfe.app import make_app
from star_ca.wfe.nonces import NonceStore

log = logging.getLogger("star_ca")
DB_FILE = "star-ca.sqlite3"


def serving_names(config: Config) -> list[str]:
    names = ["localhost", "127.0.0.1", "::1"]
    if config.listen_host not in ("0.0.0.0", "::", ""):
        names.append(config.listen_host)
    if config.base_url:
        host = urlsplit(config.base_url).hostname
        if host:
            names.append(host)
    return names + list(config.tls_names)


def build_services(config: Config) -> tuple[Services, pki.Hierarchy]:
    config.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    store = Store(config.data_dir / DB_FILE)
    hierarchy = pki.load_or_create(store, config.key_type)
    pki.write_atomic(config.data_dir / "root.pem", hierarchy.root_pem)
    dns = DnsClient(config.dns_server, config.dns_timeout)
    issuer = Issuer(hierarchy)
    star_cache = StarCache()
    caa = CaaChecker(dns, config.caa_identities, config.caa_cache_max)
    services = Services(config=config, store=store, nonces=NonceStore(), issuer=issuer, dns=dns,
                        caa=caa, validator=Validator(config, store, dns),
                        scheduler=Scheduler(config, store, issuer, caa, star_cache),
                        star_cache=star_cache)
    return services, hierarchy


async def serve(config: Config) -> None:
    services, hierarchy = build_services(config)
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
    recovery = asyncio.create_task(recover_processing(services))  # orders a crash left behind
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
        services.store.close()


def main(config: Config) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(config))
    return 0

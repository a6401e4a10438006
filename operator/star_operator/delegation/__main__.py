"""``python -m star_operator.delegation``: run the front end over HTTPS until SIGTERM."""

from __future__ import annotations

import logging
import ssl
import sys
from collections.abc import Sequence

from aiohttp import web

from star_ca.wfe.nonces import NonceStore
from star_operator import k8s, kubelogin
from star_operator.delegation import config
from star_operator.delegation.app import make_app
from star_operator.delegation.cluster import Cluster
from star_operator.delegation.urls import Services

log = logging.getLogger("star_operator.delegation")


def tls_context(cfg: config.Config) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cfg.tls_cert, cfg.tls_key)
    return ctx


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: "
                                                   "%(message)s")
    try:
        cfg = config.parse(argv)
        ctx = tls_context(cfg)
        info = kubelogin.connection_info()
    except (config.UsageError, ssl.SSLError, OSError, ValueError) as exc:
        print(f"star-delegation: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # kopf's LoginError and kubeconfig parse errors
        print(f"star-delegation: cannot log in to Kubernetes: {exc}", file=sys.stderr)
        return 2
    if info is None:
        print("star-delegation: no service account and no KUBECONFIG", file=sys.stderr)
        return 2
    services = Services(cfg, NonceStore(), Cluster(k8s.KubeClient(info), cfg.namespace))
    app = make_app(services)

    async def close_client(_: web.Application) -> None:
        await services.cluster.client.close()

    app.on_cleanup.append(close_client)
    log.info("delegation front end for namespace %s on https://%s:%d", cfg.namespace,
             cfg.listen_address, cfg.port)
    web.run_app(app, host=cfg.listen_address, port=cfg.port, ssl_context=ctx, print=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())

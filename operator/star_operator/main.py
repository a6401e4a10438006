"""kopf entry module: operator-wide settings and the handler registrations.

``kopf run -m star_operator.main`` or the ``star-operator`` console script load this module;
importing the handler modules registers their decorators.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import kopf

from star_operator import config, context, k8s, kubelogin, metrics, persistence, sessions
from star_operator import constants as c
from star_operator.handlers import csrtemplate, delegation, starcertificate, starorder  # noqa: F401
from star_operator.handlers import starissuer  # noqa: F401

_metrics_started = threading.Event()


def apply_settings(settings: kopf.OperatorSettings, cfg: config.Config) -> None:
    """Our own finalizer and annotation prefix, quiet event posting, fast error backoffs."""
    settings.persistence.finalizer = c.FINALIZER
    settings.persistence.progress_storage = persistence.PROGRESS
    settings.persistence.diffbase_storage = persistence.DIFFBASE
    # kopf's own per-handler chatter would be an Event per handler run at 1,000 objects;
    # our domain code posts the Events that matter explicitly.
    settings.posting.level = logging.WARNING
    settings.posting.reporting_component = "star-operator"
    settings.execution.default_backoff = max(1.0, cfg.backoff_min)
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, logger: kopf.Logger, memo: kopf.Memo,
                  **_: Any) -> None:
    """Load configuration (fail fast on bad env), build the process's
    :class:`~star_operator.context.OperatorContext` into ``memo`` (kopf runs this before any
    resource handler) and start the metrics endpoint."""
    cfg = config.get()
    apply_settings(settings, cfg)
    context.install(memo, context.OperatorContext.create(cfg))
    if cfg.metrics_port and not _metrics_started.is_set():
        metrics.start_http_server(cfg.metrics_port, cfg.metrics_address)
        _metrics_started.set()
        logger.info("metrics on %s:%d/metrics", cfg.metrics_address, cfg.metrics_port)


@kopf.on.login()
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """In-cluster service account, else KUBECONFIG; the same credentials serve our own calls."""
    info = kubelogin.connection_info(**kwargs)
    if info is not None:
        k8s.configure(info)
    return info


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    """Close the context's clients and the HTTP sessions so the process exits without
    unclosed-session warnings."""
    await context.of(memo).close()
    await sessions.close_all()
    try:
        await k8s.client().close()
    except RuntimeError:
        pass


@kopf.on.probe(id="accounts")
def accounts_probe(memo: kopf.Memo, **_: Any) -> int:
    """Liveness detail: how many CA accounts (CsrTemplates' clients) are loaded."""
    return len(context.of(memo).templates)

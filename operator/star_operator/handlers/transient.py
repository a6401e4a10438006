"""Turn passing infrastructure failures into kopf's concise, backed-off retries.

An exception kopf does not know is logged with a full traceback and retried after the default
backoff; while the API server restarts or a CA is down that is a traceback per object per
second. These failures are expected operations, not bugs: one error line and a growing delay.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import aiohttp
import kopf

from star_operator import k8s

#: Kubernetes API answers and network failures that a later attempt can get past.
TRANSIENT = (k8s.ApiError, aiohttp.ClientError, OSError)


@contextlib.contextmanager
def retried_later(delay: float) -> Iterator[None]:
    """Re-raise :data:`TRANSIENT` errors as :class:`kopf.TemporaryError` after ``delay`` s."""
    try:
        yield
    except TRANSIENT as exc:
        raise kopf.TemporaryError(f"{type(exc).__name__}: {exc}", delay=delay) from exc

"""Turn passing infrastructure failures into kopf's concise, backed-off retries.

An exception kopf does not know is logged with a full traceback and retried after the default
backoff; while the API server restarts or a CA is down that is a traceback per object per
second. These failures are expected operations, not bugs: one error line and a growing delay.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import kopf

from star_operator import k8s


@contextlib.contextmanager
def retried_later(delay: float) -> Iterator[None]:
    """Re-raise :data:`k8s.TRANSIENT_ERRORS` (API answers and network failures, the CA's
    included) as :class:`kopf.TemporaryError` after ``delay`` s."""
    try:
        yield
    except k8s.TRANSIENT_ERRORS as exc:
        raise kopf.TemporaryError(f"{type(exc).__name__}: {exc}", delay=delay) from exc

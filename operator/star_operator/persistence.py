"""Where kopf keeps its per-object state: annotations under our own prefix, and for StarOrders
the diff base in the operator's memory.

Installed by :func:`star_operator.main.apply_settings`. Only objects with kopf change handlers
(on.create/update/delete/resume) have a diff base: StarOrders, CsrTemplates, StarIssuers,
Delegations. StarCertificates have none (their spec edits are seen by a watch-event handler,
:mod:`star_operator.handlers.starcertificate`), so they carry no copy of their spec either.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import kopf

from star_operator import constants as c

ANNOTATIONS = kopf.AnnotationsDiffBaseStorage(prefix=c.ANNOTATION_PREFIX,
                                              key="last-handled-configuration", v1=False)


class ProgressUnmarkedOnStarOrders(kopf.AnnotationsProgressStorage):
    """kopf's progress annotations (written only while a handler is retried), without kopf's
    ``star.operator.dev/kopf-managed`` marker on StarOrders.

    Why: kopf adds that marker to an object the first time a handler of it finishes, a PATCH of
    its own for every new StarOrder once nothing else (the diff base, see
    :class:`StarOrdersInMemory`) goes into that write. The marker tells *other* kopf-based
    operators that the prefix is a kopf operator's, so they leave our annotations out of what
    they compare; this operator never needs it (kopf clears every annotation under the progress
    prefix from the essence it compares), and StarOrders are this operator's kind alone. The
    other kinds keep it. (kopf documents overriding the marking for self-made storages.)
    """

    def _store_marker(self, prefix: str, patch: kopf.Patch, body: kopf.Body) -> None:
        if not _is_star_order(body):
            super()._store_marker(prefix=prefix, patch=patch, body=body)


PROGRESS = ProgressUnmarkedOnStarOrders(prefix=c.ANNOTATION_PREFIX, v1=False)


class StarOrdersInMemory(kopf.DiffBaseStorage):
    """StarOrders' diff base in this process; every other kind's in ``annotations``.

    Why: kopf's annotation is a PATCH of every new StarOrder once its first reconcile is done
    (one of its dozen API requests, and a watch event kopf queues), and a copy of the spec
    inside each later write and event of it. A StarOrder does not need the copy to survive a
    restart: its create, update and resume handlers are one level-triggered reconcile, which
    reads what was ordered from status (``status.ordered``), so a StarOrder seen afresh after
    a restart (kopf's create cause, where the annotation made it a resume) is reconciled the
    same way, and an edit made while the operator was down is found by that reconcile. The
    other kinds keep the annotation: their create handlers are not their resume handlers.

    Kept as compact JSON per uid (about 1 KB a StarOrder), dropped once the StarOrder is being
    deleted (kopf decides deletion causes before it looks at a diff base).
    """

    def __init__(self, annotations: kopf.AnnotationsDiffBaseStorage) -> None:
        super().__init__()
        self.annotations = annotations
        self._seen: dict[str, str] = {}

    def build(self, *, body: kopf.Body,
              extra_fields: Iterable[Any] | None = None) -> kopf.BodyEssence:
        # the annotations' build: an annotation an earlier version left is not essence
        return self.annotations.build(body=body, extra_fields=extra_fields)

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        uid = _star_order_uid(body)
        if uid is None:
            return self.annotations.fetch(body=body)
        if body.metadata.get("deletionTimestamp"):
            self._seen.pop(uid, None)
            return None
        stored = self._seen.get(uid)
        return json.loads(stored) if stored is not None else None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        uid = _star_order_uid(body)
        if uid is None:
            self.annotations.store(body=body, patch=patch, essence=essence)
        elif body.metadata.get("deletionTimestamp"):
            self._seen.pop(uid, None)
        else:
            self._seen[uid] = json.dumps(essence, separators=(",", ":"))


def _is_star_order(body: kopf.Body) -> bool:
    return body.get("kind") == c.STARORDER_KIND and body.get("apiVersion") == c.API_VERSION


def _star_order_uid(body: kopf.Body) -> str | None:
    """The uid of a StarOrder body (None for any other kind)."""
    uid = body.metadata.get("uid") if _is_star_order(body) else None
    return str(uid) if uid else None


DIFFBASE = StarOrdersInMemory(ANNOTATIONS)

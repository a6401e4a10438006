"""Where kopf keeps its per-object state: annotations under our own prefix.

One definition for two users: :func:`star_operator.main.apply_settings` installs these storages,
and :func:`prefill_diffbase` writes the diff base into a StarCertificate the operator creates,
in kopf's own format (kopf's ``build``/``store``, not a copy of them).

Why prefill: a StarCertificate has an update handler, so kopf keeps a "last handled
configuration" to diff against, and on first sight of an object without one it PATCHes it in:
one API request per new StarOrder for a value known at create time.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import kopf

from star_operator import constants as c

DIFFBASE = kopf.AnnotationsDiffBaseStorage(prefix=c.ANNOTATION_PREFIX,
                                           key="last-handled-configuration", v1=False)
PROGRESS = kopf.AnnotationsProgressStorage(prefix=c.ANNOTATION_PREFIX, v1=False)


def prefill_diffbase(body: MutableMapping[str, Any]) -> None:
    """Add to ``body`` (an object about to be created) the diff base kopf would store on first
    sight, so kopf finds the object already handled as created. Fields the API server adds
    (metadata, status, schema defaults the body does not spell out) are outside the diff or
    would show as a change: then kopf runs the update handler and stores the base itself, the
    cost before this."""
    patch = kopf.Patch()
    view = kopf.Body(body)  # type: ignore[arg-type]
    DIFFBASE.store(body=view, patch=patch, essence=DIFFBASE.build(body=view))
    annotations = body.setdefault("metadata", {}).setdefault("annotations", {})
    annotations.update(patch["metadata"]["annotations"])

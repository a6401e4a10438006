"""Where kopf keeps its per-object state: annotations under our own prefix.

Installed by :func:`star_operator.main.apply_settings`. Only objects with kopf change handlers
(on.create/update/delete/resume) carry a diff base: StarOrders, CsrTemplates, StarIssuers,
Delegations. StarCertificates have none (their spec edits are seen by a watch-event handler,
:mod:`star_operator.handlers.starcertificate`), so they carry no copy of their spec either.
"""

from __future__ import annotations

import kopf

from star_operator import constants as c

DIFFBASE = kopf.AnnotationsDiffBaseStorage(prefix=c.ANNOTATION_PREFIX,
                                           key="last-handled-configuration", v1=False)
PROGRESS = kopf.AnnotationsProgressStorage(prefix=c.ANNOTATION_PREFIX, v1=False)

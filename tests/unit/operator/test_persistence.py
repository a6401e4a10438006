"""kopf's diff base: StarOrders' in the operator's memory (no PATCH), other kinds' in an
annotation as before."""
from __future__ import annotations

from typing import Any

import kopf

from star_operator import constants as c
from star_operator.persistence import ANNOTATIONS, StarOrdersInMemory

LEGACY_KEY = f"{c.ANNOTATION_PREFIX}/last-handled-configuration"


def _order(uid: str = "u-1", *, spec: dict[str, Any] | None = None,
           annotations: dict[str, str] | None = None, deleting: bool = False) -> kopf.Body:
    meta: dict[str, Any] = {"name": "web", "namespace": "cdn", "uid": uid,
                            "annotations": dict(annotations or {})}
    if deleting:
        meta["deletionTimestamp"] = "2026-12-04T00:00:00Z"
    return kopf.Body({"apiVersion": c.API_VERSION, "kind": c.STARORDER_KIND, "metadata": meta,
                      "spec": spec or {"secretName": "web-tls"}, "status": {"phase": "Valid"}})


def _handled(storage: StarOrdersInMemory, body: kopf.Body) -> kopf.Patch:
    """What kopf does once a cause's handlers are done: store the body's essence."""
    patch = kopf.Patch()
    storage.store(body=body, patch=patch, essence=storage.build(body=body))
    return patch


def test_a_star_order_is_new_until_handled_then_unchanged_without_any_patch() -> None:
    storage, body = StarOrdersInMemory(ANNOTATIONS), _order()
    assert storage.fetch(body=body) is None  # kopf: the create cause
    assert not _handled(storage, body)  # nothing to PATCH into the object
    assert storage.fetch(body=body) == storage.build(body=body)  # kopf: no diff, a no-op


def test_a_spec_edit_differs_from_the_stored_essence() -> None:
    storage = StarOrdersInMemory(ANNOTATIONS)
    _handled(storage, _order(spec={"secretName": "web-tls"}))
    edited = _order(spec={"secretName": "other-tls"})
    assert storage.fetch(body=edited) != storage.build(body=edited)  # kopf: the update cause


def test_each_star_order_has_its_own_diff_base() -> None:
    storage = StarOrdersInMemory(ANNOTATIONS)
    _handled(storage, _order("u-1"))
    assert storage.fetch(body=_order("u-2")) is None


def test_an_annotation_an_earlier_version_left_is_not_part_of_the_essence() -> None:
    storage = StarOrdersInMemory(ANNOTATIONS)
    old = _order(annotations={LEGACY_KEY: '{"spec":{"secretName":"stale"}}\n'})
    assert storage.build(body=old) == storage.build(body=_order())


def test_a_deleting_star_order_is_forgotten() -> None:
    storage = StarOrdersInMemory(ANNOTATIONS)
    _handled(storage, _order())
    assert storage.fetch(body=_order(deleting=True)) is None
    assert storage.fetch(body=_order()) is None  # dropped, not only hidden
    _handled(storage, _order(deleting=True))  # the delete cause's own store keeps nothing
    assert storage.fetch(body=_order()) is None


def test_other_kinds_keep_the_annotation() -> None:
    storage = StarOrdersInMemory(ANNOTATIONS)
    template = kopf.Body({"apiVersion": c.API_VERSION, "kind": "CsrTemplate",
                          "metadata": {"name": "t", "uid": "t-1"}, "spec": {"a": 1}})
    patch = _handled(storage, template)
    stored = patch["metadata"]["annotations"][LEGACY_KEY]
    assert '"spec":{"a":1}' in stored
    annotated = kopf.Body({**template, "metadata": {**template["metadata"],
                                                    "annotations": {LEGACY_KEY: stored}}})
    assert storage.fetch(body=annotated) == {"spec": {"a": 1}}

"""kopf's per-object state: StarOrders' diff base in the operator's memory and no kopf marker
on them (neither is a PATCH), other kinds' in annotations as before."""
from __future__ import annotations

from typing import Any

import kopf

from star_operator import constants as c
from star_operator.persistence import ANNOTATIONS, PROGRESS, StarOrdersInMemory

LEGACY_KEY = f"{c.ANNOTATION_PREFIX}/last-handled-configuration"
MARKER = f"{c.ANNOTATION_PREFIX}/kopf-managed"


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
    storage, template = StarOrdersInMemory(ANNOTATIONS), _template()
    patch = _handled(storage, template)
    stored = patch["metadata"]["annotations"][LEGACY_KEY]
    assert '"spec":{"a":1}' in stored
    annotated = kopf.Body({**template, "metadata": {**template["metadata"],
                                                    "annotations": {LEGACY_KEY: stored}}})
    assert storage.fetch(body=annotated) == {"spec": {"a": 1}}


def _template() -> kopf.Body:
    return kopf.Body({"apiVersion": c.API_VERSION, "kind": "CsrTemplate",
                      "metadata": {"name": "t", "uid": "t-1"}, "spec": {"a": 1}})


def test_a_retried_handler_s_progress_on_a_star_order_carries_no_kopf_marker() -> None:
    """kopf stores a handler's outcome, then purges it once all are done: on a StarOrder
    nothing is left to PATCH (the marker alone was the second PATCH of every new one)."""
    order, patch = _order(), kopf.Patch()
    PROGRESS.store(key=kopf.HandlerId("reconcile"), record={"retries": 1}, body=order,
                   patch=patch)
    assert f"{c.ANNOTATION_PREFIX}/reconcile" in patch["metadata"]["annotations"]
    assert MARKER not in patch["metadata"]["annotations"]
    PROGRESS.purge(key=kopf.HandlerId("reconcile"), body=order, patch=patch)
    assert not patch.get("metadata", {}).get("annotations")


def test_other_kinds_keep_kopf_s_marker() -> None:
    patch = kopf.Patch()
    PROGRESS.store(key=kopf.HandlerId("reconcile"), record={"retries": 1}, body=_template(),
                   patch=patch)
    assert patch["metadata"]["annotations"][MARKER] == "yes"

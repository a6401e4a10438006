"""The diff base a created StarCertificate carries is the one kopf would store on first sight:
kopf reading it back finds no change, so it neither PATCHes one in nor runs the update handler."""

from __future__ import annotations

import copy

import kopf

from star_operator import constants as c
from star_operator import persistence


def _certificate() -> dict:
    owner = {"apiVersion": c.API_VERSION, "kind": c.STARORDER_KIND,
             "metadata": {"name": "web", "namespace": "ns", "uid": "uid-web",
                          "labels": {"team": "edge"}}}
    body = {"apiVersion": c.API_VERSION, "kind": c.STARCERTIFICATE_KIND,
            "metadata": {"name": "web", "namespace": "ns",
                         "labels": {c.MANAGED_BY_LABEL: c.MANAGED_BY_VALUE},
                         "finalizers": [c.FINALIZER]},
            "spec": {"starCertificateURL": "https://ca.test/star/1", "secretName": "web-tls",
                     "privateKeySecretRef": {"name": "web-tls", "key": c.TLS_KEY},
                     "dnsNames": ["www.example.test"]}}
    kopf.adopt(body, owner=owner)  # type: ignore[arg-type]
    return body


def test_kopf_finds_the_prefilled_diff_base_equal_to_the_object() -> None:
    body = _certificate()
    persistence.prefill_diffbase(body)
    # what the API server returns: its own metadata and an empty status added
    stored = copy.deepcopy(body)
    stored["metadata"].update(uid="uid-cert", resourceVersion="7", generation=1,
                              creationTimestamp="2026-12-03T00:00:00Z")
    view = kopf.Body(stored)
    assert persistence.DIFFBASE.fetch(body=view) == persistence.DIFFBASE.build(body=view)
    assert persistence.DIFFBASE.fetch(body=view)["spec"]["secretName"] == "web-tls"
    assert stored["metadata"]["labels"]["team"] == "edge"  # the owner's labels, as kopf adopts


def test_a_spec_changed_since_shows_as_a_change() -> None:
    body = _certificate()
    persistence.prefill_diffbase(body)
    body["spec"]["secretName"] = "other-tls"
    view = kopf.Body(body)
    assert persistence.DIFFBASE.fetch(body=view) != persistence.DIFFBASE.build(body=view)

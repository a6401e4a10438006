"""CsrTemplate reads from kopf's index (ordering.objects.WatchedTemplates) over a fake API: an
indexed template costs no request, one not indexed yet is read, everything else passes on."""

from __future__ import annotations

import asyncio

from star_operator import constants as c
from star_operator.ordering.objects import WatchedTemplates
from tests.unit.ordering.fakes import FakeObjects

TEMPLATE = {"metadata": {"name": "t", "resourceVersion": "5"}, "spec": {"domains": ["x.test"]}}


def test_an_indexed_template_is_served_from_the_index() -> None:
    api = FakeObjects()
    objects = WatchedTemplates({"t": [TEMPLATE]}, fallback=api)
    assert asyncio.run(objects.get_object(c.CSRTEMPLATE_PLURAL, None, "t")) == TEMPLATE
    assert api.calls == []


def test_a_template_not_indexed_yet_and_other_objects_are_read_from_the_api() -> None:
    api = FakeObjects()
    api.put(c.CSRTEMPLATE_PLURAL, None, {"metadata": {"name": "new"}})
    objects = WatchedTemplates({"t": [TEMPLATE]}, fallback=api)
    assert asyncio.run(objects.get_object(c.CSRTEMPLATE_PLURAL, None, "new")) is not None
    assert asyncio.run(objects.get_object(c.CSRTEMPLATE_PLURAL, None, "gone")) is None
    asyncio.run(objects.get_object(c.STARCERTIFICATE_PLURAL, "ns", "t"))
    asyncio.run(objects.create_object(c.STARCERTIFICATE_PLURAL, "ns", {"metadata": {"name": "a"}}))
    asyncio.run(objects.patch_object(c.STARCERTIFICATE_PLURAL, "ns", "a", {"spec": {}}))
    cert = c.STARCERTIFICATE_PLURAL
    assert api.calls == [f"get {c.CSRTEMPLATE_PLURAL}/new", f"get {c.CSRTEMPLATE_PLURAL}/gone",
                         f"get {cert}/t", f"create {cert}/a", f"patch {cert}/a"]

"""cname-map entries: normalized to absolute FQDNs, and only under the template's domains."""
from __future__ import annotations

import types

import pytest

from star_operator.csr_template import DomainPolicy
from star_operator.zone_records import cname_map

ZONE = types.SimpleNamespace(policy=types.SimpleNamespace(name="dno",
                                                          domains=DomainPolicy(["star.test"])))


def test_both_sides_become_lower_case_absolute_names() -> None:
    assert cname_map.normalize({"CDN.star.test": "Edge.CDN.example."}) == {
        "cdn.star.test.": "edge.cdn.example."}
    assert cname_map.normalize(None) == {}


@pytest.mark.parametrize("mapping, words", [
    ({"www.other.test.": "e.cdn.example."}, ["key 'www.other.test.'", "star.test"]),
    ({"*.star.test.": "e.cdn.example."}, ["key '*.star.test.'", "not a host name"]),
    ({"www.star.test.": "e_dge.cdn.example."}, ["value", "not a host name"]),
])
def test_a_name_outside_or_malformed_is_refused_by_name(mapping: dict[str, str],
                                                        words: list[str]) -> None:
    with pytest.raises(cname_map.ZoneRecordError) as refused:
        cname_map.check(cname_map.normalize(mapping), ZONE)  # type: ignore[arg-type]
    assert refused.value.reason == "CnameMapInvalid"
    assert all(w in refused.value.message for w in words), refused.value.message


def test_names_under_the_domains_pass() -> None:
    cname_map.check(cname_map.normalize({"a.b.star.test": "edge.cdn.example"}),
                    ZONE)  # type: ignore[arg-type]

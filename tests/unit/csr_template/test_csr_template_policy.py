"""DomainPolicy: which client-chosen DNS names fall under the DNO's suffixes."""

from __future__ import annotations

import pytest

from star_operator.csr_template import DomainPolicy

POLICY = DomainPolicy(["cdn.star.test", "Edge.Example."])


@pytest.mark.parametrize(("name", "inside"), [
    ("cdn.star.test", True),  # equal to a suffix
    ("a.cdn.star.test", True),  # below it
    ("x.y.cdn.star.test", True),
    ("A.CDN.Star.Test.", True),  # case and trailing dot do not matter
    ("*.cdn.star.test", True),  # a DNS wildcard is judged by its base
    ("*.a.cdn.star.test", True),
    ("edge.example", True),  # suffixes are normalised too
    ("star.test", False),  # above the suffix
    ("*.star.test", False),  # wildcard over the parent
    ("xcdn.star.test", False),  # suffix match must be label-aligned
    ("cdn.star.test.evil.example", False),
    ("a.*.cdn.star.test", False),  # wildcard not in the left-most label
    ("a..cdn.star.test", False),  # empty label
    ("bad_name.cdn.star.test", False),  # not an LDH name
    ("", False),
])
def test_allows(name: str, inside: bool) -> None:
    assert POLICY.allows(name) is inside


def test_empty_policy_allows_nothing() -> None:
    assert not DomainPolicy([]).allows("a.cdn.star.test")
    assert DomainPolicy([]).describe() == "(no domains allowed)"


def test_normalisation_equality_and_repr() -> None:
    p = DomainPolicy(["CDN.star.test.", "cdn.star.test"])
    assert p.domains == ("cdn.star.test",)
    assert p == DomainPolicy(["cdn.star.test"]) and hash(p) == hash(DomainPolicy(["cdn.star.test"]))
    assert "cdn.star.test" in repr(p)


def test_one_string_is_refused() -> None:
    with pytest.raises(TypeError):
        DomainPolicy("cdn.star.test")  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["*.cdn.star.test", "", "a b.test", "under_score.test"])
def test_bad_suffix(bad: str) -> None:
    with pytest.raises(ValueError):
        DomainPolicy([bad])

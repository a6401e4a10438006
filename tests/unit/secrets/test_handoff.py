"""The staged-Secret handoff from a StarOrder to its StarCertificate (secrets.handoff): a copy
is taken once, a newer put replaces it, the oldest are pushed out past the limit, and neither
the key nor managedFields are kept where they should not be."""

from __future__ import annotations

import json

from star_operator.secrets.handoff import SecretHandoff, compact


def _secret(name: str, rv: str) -> dict[str, object]:
    return {"metadata": {"name": name, "namespace": "ns", "resourceVersion": rv,
                         "managedFields": [{"manager": "star-operator"}]},
            "data": {"staged-tls.key": "S0VZ"}}


def test_a_copy_is_taken_once_without_managed_fields() -> None:
    held = SecretHandoff()
    held.put("ns", "a", _secret("a", "5"))
    taken = held.take("ns", "a")
    assert taken is not None and json.loads(taken)["metadata"] == {
        "name": "a", "namespace": "ns", "resourceVersion": "5"}
    assert held.take("ns", "a") is None
    assert held.take("other", "a") is None


def test_a_newer_put_replaces_the_copy_and_none_forgets_it() -> None:
    held = SecretHandoff()
    held.put("ns", "a", _secret("a", "5"))
    held.put("ns", "a", _secret("a", "6"))
    assert json.loads(held.take("ns", "a") or b"")["metadata"]["resourceVersion"] == "6"
    held.put("ns", "a", _secret("a", "7"))
    held.put("ns", "a", None)
    assert held.take("ns", "a") is None


def test_past_the_limit_the_oldest_are_pushed_out() -> None:
    held = SecretHandoff(limit=2)
    for name in ("a", "b", "c"):
        held.put("ns", name, _secret(name, "1"))
    assert held.take("ns", "a") is None
    assert held.take("ns", "b") is not None and held.take("ns", "c") is not None


def test_the_key_is_not_in_the_repr() -> None:
    held = SecretHandoff()
    held.put("ns", "a", _secret("a", "5"))
    assert "S0VZ" not in repr(held) and repr(held) == "SecretHandoff(1 held)"
    assert compact(None) is None

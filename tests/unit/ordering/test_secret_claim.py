"""A StarOrder whose Secret another owner holds, with a fake Secret store and owner lookup: the
conflict is recorded, re-checked at most every SECRET_CONFLICT_RECHECK seconds however long it
lasted (the operator does not watch Secrets, so a re-read is how it sees the name freed), and
the key is staged once the holder is gone. A new StarOrder does not read first: its create
finds a held Secret (409), reads it then and refuses it the same way."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from star_operator import constants as c
from star_operator.ordering import issuance
from star_operator.ordering.issuance import Retry
from star_operator.secrets import ownership, payload
from tests.unit.ordering.fakes import Fakes, FakeSecrets, lookup

HOLDER = ownership.Owner(c.STARORDER_KIND, "ns", "holder", "uid-holder")


#: The status an attempt that found the Secret held leaves: the next attempt reads first.
FOUND_HELD = {"conditions": [{"type": "Ready", "status": "False",
                              "reason": issuance.SECRET_CONFLICT}]}


def held_secret() -> dict[str, Any]:
    return {"metadata": {"name": "tls", "namespace": "ns", "resourceVersion": "7",
                         "labels": payload.managed_labels(), "annotations": HOLDER.annotations()},
            "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}}


@pytest.mark.parametrize("retry,delay",
                         [(0, 1.0), (3, 8.0), (12, issuance.SECRET_CONFLICT_RECHECK)])
def test_a_held_secret_is_a_condition_rechecked_within_the_conflict_cap(retry: int,
                                                                        delay: float) -> None:
    fakes, store = Fakes(FOUND_HELD), FakeSecrets(held_secret())
    job = fakes.job(secrets=store, owner_exists=lookup({HOLDER}))
    job.retry = retry
    with pytest.raises(Retry) as raised:
        asyncio.run(issuance.claim_secret(job))
    assert raised.value.delay == delay  # the ordinary backoff would wait 4096 s at retry 12
    cond = fakes.patches[-1]["conditions"][0]
    assert (cond["status"], cond["reason"]) == ("False", "SecretConflict")
    assert "StarOrder ns/holder" in cond["message"]
    assert [e[:2] for e in fakes.events] == [("Warning", "SecretConflict")]
    assert store.calls == ["get tls"]  # nothing written


def test_a_new_star_order_finds_a_held_secret_by_its_create_and_writes_nothing() -> None:
    fakes, store = Fakes({}), FakeSecrets(held_secret())
    job = fakes.job(secrets=store, owner_exists=lookup({HOLDER}))
    assert asyncio.run(issuance.claim_secret(job)) is None  # taken as absent, not read
    with pytest.raises(Retry):
        asyncio.run(issuance.stage_key(job, b"key", None))
    assert store.calls == ["create tls", "get tls"]
    assert store.secrets["tls"] == held_secret()  # untouched
    cond = fakes.patches[-1]["conditions"][0]
    assert (cond["status"], cond["reason"]) == ("False", "SecretConflict")
    assert "StarOrder ns/holder" in cond["message"]


def test_once_the_holder_is_gone_the_key_is_staged_under_the_new_owner() -> None:
    fakes, store = Fakes(FOUND_HELD), FakeSecrets(held_secret())
    job = fakes.job(secrets=store, owner_exists=lookup(set()))
    secret = asyncio.run(issuance.claim_secret(job))
    asyncio.run(issuance.stage_key(job, b"-----BEGIN PRIVATE KEY-----\n", secret))
    assert store.calls == ["get tls", "replace tls"]  # the read Secret is reused, no 2nd GET
    written = store.secrets["tls"]
    annotations = written["metadata"]["annotations"]
    assert annotations[c.OWNER_ANNOTATION] == "ns/web"
    assert annotations[c.OWNER_KIND_ANNOTATION] == c.STARORDER_KIND
    assert payload.unb64(written["data"][c.STAGED_KEY]) == b"-----BEGIN PRIVATE KEY-----\n"
    assert fakes.events == []


def test_a_secret_deleted_frees_it_as_well() -> None:
    fakes, store = Fakes(FOUND_HELD), FakeSecrets()
    job = fakes.job(secrets=store, owner_exists=lookup({HOLDER}))
    assert asyncio.run(issuance.claim_secret(job)) is None
    asyncio.run(issuance.stage_key(job, b"key", None))
    assert store.calls == ["get tls", "create tls"]  # read absent: created, no second GET
    assert store.secrets["tls"]["type"] == "kubernetes.io/tls"


def test_a_secret_another_owner_creates_after_the_read_is_not_taken_over() -> None:
    """Read absent, then created by another StarOrder before the key is staged: the create is a
    409, the write reads it then, and refuses it as the holder's."""
    fakes, store = Fakes(FOUND_HELD), FakeSecrets()
    job = fakes.job(secrets=store, owner_exists=lookup({HOLDER}))
    assert asyncio.run(issuance.claim_secret(job)) is None
    store.secrets["tls"] = held_secret()
    with pytest.raises(Retry):
        asyncio.run(issuance.stage_key(job, b"key", None))
    assert store.calls == ["get tls", "create tls", "get tls"]
    assert store.secrets["tls"] == held_secret()  # untouched
    cond = fakes.patches[-1]["conditions"][0]
    assert (cond["status"], cond["reason"]) == ("False", "SecretConflict")


def test_a_star_order_with_its_own_csr_reads_first_as_nothing_is_staged_to_find_it_held() -> None:
    fakes, store = Fakes({}), FakeSecrets(held_secret())
    job = fakes.job(spec={"csr": "-----BEGIN CERTIFICATE REQUEST-----\n"}, secrets=store,
                    owner_exists=lookup({HOLDER}))
    with pytest.raises(Retry):
        asyncio.run(issuance.claim_secret(job))
    assert store.calls == ["get tls"]
    assert fakes.ready() == ("False", "SecretConflict")

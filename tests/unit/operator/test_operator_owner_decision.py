"""Secret ownership: the pure decision, the write refused before anything is written, and CA
order adoption limited to what this StarOrder could have placed."""
from __future__ import annotations

import datetime
from typing import Any

import pytest

from star_operator import acme, k8s
from star_operator import constants as c
from star_operator.ordering import adopt
from star_operator.ordering.request import OrderRequest
from star_operator.secrets import ownership, writer
from star_operator.secrets.ownership import Owner, Verdict

A = Owner(c.STARORDER_KIND, "ns", "a", "uid-a")
B = Owner(c.STARORDER_KIND, "ns", "b", "uid-b")
A_RECREATED = Owner(c.STARORDER_KIND, "ns", "a", "uid-a2")
CERT = Owner(c.STARCERTIFICATE_KIND, "ns", "a", "uid-c")
END = datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)


def secret(owner: Owner | None = None, *, managed: bool = True,
           legacy: str | None = None) -> dict[str, Any]:
    labels = {c.MANAGED_BY_LABEL: c.MANAGED_BY_VALUE} if managed else {}
    ann = owner.annotations() if owner else {}
    if legacy:
        ann = {c.OWNER_ANNOTATION: legacy}
    return {"metadata": {"name": "s", "namespace": "ns", "labels": labels,
                         "annotations": ann, "resourceVersion": "7"},
            "type": "kubernetes.io/tls", "data": {"tls.crt": "Y2VydA==", "tls.key": "a2V5"}}


def test_the_owner_is_recorded_by_kind_name_and_uid() -> None:
    assert A.annotations() == {c.OWNER_ANNOTATION: "ns/a", c.OWNER_KIND_ANNOTATION: "StarOrder",
                               c.OWNER_UID_ANNOTATION: "uid-a"}
    assert ownership.recorded_owner(secret(A)) == A
    assert ownership.recorded_owner(secret()) is None
    assert "StarOrder ns/a (uid uid-a)" == str(A)


@pytest.mark.parametrize(("existing", "claimant", "adopt_unmanaged", "verdict", "holder"), [
    (None, A, False, Verdict.FREE, None),
    (secret(), A, False, Verdict.FREE, None),              # managed, nobody recorded
    (secret(A), A, False, Verdict.OURS, A),
    (secret(A), B, False, Verdict.HELD, A),                # another StarOrder
    (secret(A), A_RECREATED, False, Verdict.HELD, A),      # same name, new UID: a new owner
    (secret(A), CERT, False, Verdict.HELD, A),             # StarOrder vs standalone certificate
    (secret(CERT), A, False, Verdict.HELD, CERT),
    (secret(managed=False), A, False, Verdict.UNMANAGED, None),
    (secret(managed=False), CERT, True, Verdict.FREE, None),
    (secret(legacy="ns/a"), A, False, Verdict.OURS, Owner("StarOrder", "ns", "a", "")),
    (secret(legacy="ns/a"), B, False, Verdict.HELD, Owner("StarOrder", "ns", "a", "")),
])
def test_assess(existing: dict | None, claimant: Owner, adopt_unmanaged: bool,
                verdict: Verdict, holder: Owner | None) -> None:
    found = ownership.assess(existing, claimant, adopt_unmanaged=adopt_unmanaged)
    assert (found.verdict, found.holder) == (verdict, holder)


def lookup(*alive: Owner) -> tuple[ownership.OwnerLookup, list[Owner]]:
    asked: list[Owner] = []

    async def exists(owner: Owner) -> bool:
        asked.append(owner)
        return any(owner.same(o) for o in alive)
    return exists, asked


async def test_a_live_owner_refuses_the_second_claimant_naming_itself() -> None:
    exists, asked = lookup(A)
    with pytest.raises(ownership.SecretConflictError) as err:
        await ownership.check(secret(A), "ns", "s", ownership.Claim(B, exists))
    assert asked == [A] and err.value.holder == A
    assert "ns/s" in str(err.value) and "StarOrder ns/a (uid uid-a)" in str(err.value)


async def test_the_owner_gone_by_uid_frees_the_secret() -> None:
    exists, _ = lookup(A_RECREATED)  # a StarOrder named a exists, but not the one recorded
    found = await ownership.check(secret(A), "ns", "s", ownership.Claim(B, exists))
    assert found.verdict is Verdict.FREE and found.holder == A


async def test_the_owner_itself_costs_no_lookup() -> None:
    exists, asked = lookup()
    assert (await ownership.check(secret(A), "ns", "s", ownership.Claim(A, exists))).verdict \
        is Verdict.OURS
    assert asked == []


async def test_unmanaged_is_refused_without_lookup() -> None:
    exists, asked = lookup()
    with pytest.raises(ownership.SecretConflictError, match="not managed by star-operator"):
        await ownership.check(secret(managed=False), "ns", "s", ownership.Claim(A, exists))
    assert asked == []


def test_claimants() -> None:
    order = {"metadata": {"namespace": "ns", "name": "a", "uid": "uid-a"}}
    assert ownership.order_claimant(order) == A
    owned = {"metadata": {"namespace": "ns", "name": "a", "uid": "uid-c", "ownerReferences": [
        {"kind": "StarOrder", "name": "a", "uid": "uid-a", "controller": True}]}}
    assert ownership.certificate_claimant(owned) == A  # writes on its StarOrder's behalf
    standalone = {"metadata": {"namespace": "ns", "name": "a", "uid": "uid-c"}}
    assert ownership.certificate_claimant(standalone) == CERT


class FakeSecrets:
    """k8s.get/create/replace_secret on one Secret, counting writes."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, existing: dict | None) -> None:
        self.existing, self.writes = existing, []
        monkeypatch.setattr(k8s, "get_secret", self.get)
        monkeypatch.setattr(k8s, "create_secret", self.put)
        monkeypatch.setattr(k8s, "replace_secret", lambda ns, name, body: self.put(ns, body))

    async def get(self, namespace: str, name: str) -> dict | None:
        return self.existing

    async def put(self, namespace: str, body: dict) -> dict:
        self.writes.append(body)
        self.existing = {**body, "metadata": {**body["metadata"], "resourceVersion": "8"}}
        return self.existing


async def test_the_writer_refuses_before_writing(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeSecrets(monkeypatch, secret(A))
    exists, _ = lookup(A)
    with pytest.raises(writer.SecretConflictError):
        await writer.stage_private_key("ns", "s", b"KEY", claim=ownership.Claim(B, exists))
    assert fake.writes == []


async def test_the_writer_records_the_owner_and_takes_over_a_released_secret(
        monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeSecrets(monkeypatch, secret(A))
    exists, _ = lookup()  # A is gone
    await writer.stage_private_key("ns", "s", b"KEY", claim=ownership.Claim(B, exists))
    (body,) = fake.writes
    assert ownership.recorded_owner(body) == B
    assert body["data"][c.STAGED_KEY] and body["metadata"]["resourceVersion"] == "7"


# ------------------------------------------------------------------------ CA order adoption

REQ = OrderRequest(names=("a.test",), key_type="ecdsa-p256", subject={}, lifetime=60,
                   lifetime_adjust=None, start_date=None, end_date=END)


def order(url: str, status: str = "pending") -> acme.Order:
    return acme.Order.from_json(url, {
        "status": status, "identifiers": [{"type": "dns", "value": "a.test"}],
        "auto-renewal": {"end-date": "2030-01-02T03:04:05Z", "lifetime": 60}})


class FakeClient:
    def __init__(self, *orders: acme.Order) -> None:
        self.orders = {o.url: o for o in orders}

    async def list_orders(self) -> list[str]:
        return list(self.orders)

    async def get_order(self, url: str) -> acme.Order:
        return self.orders[url]


@pytest.mark.parametrize("status", ["processing", "valid", "invalid", "canceled"])
def test_a_finalized_or_dead_order_is_never_adopted(status: str) -> None:
    assert adopt.same_request(order("o", "pending"), REQ)
    assert adopt.same_request(order("o", "ready"), REQ)
    assert not adopt.same_request(order("o", status), REQ)


async def test_the_one_unfinalized_match_is_adopted() -> None:
    client = FakeClient(order("other", "valid"), order("mine"))
    assert (await adopt.find_unrecorded_order(client, REQ)).url == "mine"  # type: ignore


async def test_two_unrecorded_matches_adopt_neither() -> None:
    client = FakeClient(order("one"), order("two"))
    assert await adopt.find_unrecorded_order(client, REQ) is None  # type: ignore[arg-type]

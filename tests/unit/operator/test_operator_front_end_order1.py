"""Order1 is placed once: the marker before newOrder, the URL right after, and a lost answer
adopted from the account's orders list instead of a second Order1 (the resume rules of
:mod:`star_operator.ordering.via_front_end`, with a fake front end and status record)."""
from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from star_operator import acme
from star_operator.csr_template import load_template
from star_operator.ordering import request, via_front_end
from star_operator.ordering.issuance import OrderJob
from star_operator.ordering.issuers import FrontEnd

END = dt.datetime(2026, 12, 3, tzinfo=dt.timezone.utc)
REQ = request.OrderRequest(names=("www.dno.test",), key_type="ecdsa-p256", subject={},
                           lifetime=300, lifetime_adjust=None, start_date=None, end_date=END)
DELEGATION = "https://fe.test/acme/delegation/cdn"
TEMPLATE = {"keyTypes": [{"PublicKeyType": "id-ecPublicKey", "namedCurve": "secp256r1",
                          "SignatureType": "ecdsa-with-SHA256"}],
            "extensions": {"subjectAltName": {"DNS": ["www.dno.test"]}}}


class Recorder:
    """StatusRecorder's surface, in memory; `history` is every write in order."""

    def __init__(self, status: dict[str, Any] | None = None) -> None:
        self.status, self.history = dict(status or {}), []

    def get(self, key: str, default: Any = None) -> Any:
        return self.status.get(key, default)

    async def record(self, **fields: Any) -> None:
        self.history.append(fields)
        for key, value in fields.items():
            if value is None:
                self.status.pop(key, None)
            else:
                self.status[key] = value


def _order(url: str, status: str = "ready") -> acme.Order:
    return acme.Order.from_json(url, {
        "status": status, "identifiers": [{"type": "dns", "value": "www.dno.test"}],
        "authorizations": [], "finalize": url + "/finalize",
        "auto-renewal": {"end-date": "2026-12-03T00:00:00Z", "lifetime": 300}})


class FrontEndClient:
    account_url = "https://fe.test/acme/account/1"

    def __init__(self, recorder: Recorder, existing: list[acme.Order] | None = None,
                 lists_orders: bool = True) -> None:
        self.recorder, self.existing, self.lists_orders = recorder, existing or [], lists_orders
        self.placed: list[dict[str, Any]] = []

    async def new_order(self, names: list[str], renewal: acme.AutoRenewal, *,
                        delegation: str) -> acme.Order:
        assert self.recorder.get("newOrderAt"), "the marker must be recorded before newOrder"
        self.placed.append({"names": names, "delegation": delegation,
                            "auto-renewal": renewal.to_json()})
        return _order(f"https://fe.test/acme/order/cdn/{len(self.placed)}")

    async def list_orders(self) -> list[str]:
        if not self.lists_orders:
            raise acme.AcmeProtocolError("account has no orders URL")
        return [o.url for o in self.existing]

    async def get_order(self, url: str) -> acme.Order:
        return next(o for o in self.existing if o.url == url)


def _run(recorder: Recorder, client: FrontEndClient) -> acme.Order:
    job = OrderJob(namespace="edge", name="www", body={"spec": {}},
                   recorder=recorder,  # type: ignore[arg-type]
                   default_namespace="star-operator")
    front = FrontEnd(client=client, ca_pem=None,  # type: ignore[arg-type]
                     delegation=acme.Delegation.from_json(DELEGATION,
                                                          {"csr-template": TEMPLATE}),
                     template=load_template(TEMPLATE))
    return asyncio.run(via_front_end.place_order1(job, front, REQ))


def test_marker_then_newOrder_then_url() -> None:
    rec = Recorder()
    client = FrontEndClient(rec)
    order = _run(rec, client)
    assert [p["delegation"] for p in client.placed] == [DELEGATION]
    assert client.placed[0]["auto-renewal"]["lifetime"] == 300
    assert rec.history[0].keys() == {"newOrderAt", "mode"}  # the kind known before newOrder
    assert rec.history[0]["mode"] == "Native"
    assert rec.status["orderURL"] == order.url and "newOrderAt" not in rec.status


def test_a_lost_answer_is_adopted_not_placed_again() -> None:
    rec = Recorder({"newOrderAt": "2026-12-02T14:00:00Z"})
    lost = _order("https://fe.test/acme/order/cdn/lost")
    client = FrontEndClient(rec, existing=[_order("https://fe.test/acme/order/cdn/old",
                                                  "valid"), lost])
    assert _run(rec, client).url == lost.url
    assert client.placed == [] and rec.status["orderURL"] == lost.url


def test_without_an_orders_list_a_new_order1_is_placed() -> None:
    rec = Recorder({"newOrderAt": "2026-12-02T14:00:00Z"})
    client = FrontEndClient(rec, lists_orders=False)
    _run(rec, client)
    assert len(client.placed) == 1  # an unfinalized Order1 never reaches the CA

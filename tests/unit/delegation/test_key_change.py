"""keyChange at the front end (RFC 8555 §7.3.5): the real app over HTTPS with a FakeCluster.

The account keeps its id, URL, Delegations and orders; only the key on every Delegation it is
bound to changes. Every RFC check of the inner JWS refuses with nothing written; a key another
account holds is a 409 naming that account; a change interrupted half-way (the second
Delegation's write lost) is completed by the next lookup."""
from __future__ import annotations

import base64
import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import josepy as jose
import pytest

from star_operator import constants as c
from star_operator import k8s
from star_ca.wfe.accounts import thumbprint
from tests.integration.delegation.ndc_client import Ndc, ec_jwk
from tests.unit.delegation.fake_cluster import FakeCluster
from tests.unit.delegation.served import serve
from tests.unit.delegation.test_rfc9115_interop import MAC, dno_cluster, future

FIRST, SECOND = "gm0wfLYHBen", "gm1second"
OTHER_MAC = base64.urlsafe_b64encode(b"o" * 32).decode().rstrip("=")


def two_grants() -> FakeCluster:
    """The RFC's Delegation, a second one with the same credentials (the same CDN granted
    another template use: it joins the account), and another CDN's Delegation."""
    cluster = dno_cluster()
    first = cluster.objects[(c.DELEGATION_KIND, FIRST)]
    cluster.put(c.DELEGATION_KIND, {**copy.deepcopy(first), "metadata": {"name": SECOND}})
    cluster.put("Secret", {"metadata": {"name": "other-eab"},
                           "data": {"hmacKey": base64.b64encode(OTHER_MAC.encode()).decode()}})
    other = copy.deepcopy(first)
    other["metadata"] = {"name": "other-cdn"}
    other["spec"]["externalAccountBinding"] = {"keyID": "other-key",
                                               "hmacKeySecretRef": {"name": "other-eab"}}
    cluster.put(c.DELEGATION_KIND, other)
    return cluster


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[FakeCluster, str, str]]:
    cluster = two_grants()
    with serve(cluster, tmp_path) as base:
        yield cluster, base, (tmp_path / "tls.crt").read_text()


def ndc_of(served: tuple[FakeCluster, str, str], key_id: str = "ndc-key",
           mac: str = MAC) -> Ndc:
    _, base, ca = served
    ndc = Ndc(base + "/directory", ca)
    assert ndc.register(key_id, mac).status == 201
    return ndc


def record(cluster: FakeCluster, name: str) -> dict[str, Any]:
    return dict(cluster.objects[(c.DELEGATION_KIND, name)]["status"]["account"])


def test_the_directory_names_key_change(served: Any) -> None:
    _, base, ca = served
    assert Ndc(base + "/directory", ca).directory["keyChange"] == base + "/acme/key-change"


def test_the_key_changes_and_the_account_its_delegations_and_orders_stay(served: Any) -> None:
    cluster, base, ca = served
    ndc = ndc_of(served)
    account_url, old_key = ndc.kid, ndc.key
    assert ndc.post(account_url).status == 200  # joins SECOND (same credentials)
    order = ndc.post(ndc.directory["newOrder"], {
        "identifiers": [{"type": "dns", "value": "abc.ido.example"}],
        "auto-renewal": {"end-date": future(120), "lifetime": 345600,
                         "allow-certificate-get": True},
        "delegation": f"{base}/acme/delegation/{FIRST}"})
    assert order.status == 201
    new_key = ec_jwk()

    changed = ndc.change_key(new_key)
    assert changed.status == 200, changed.body
    assert changed.headers["Location"] == account_url
    assert changed.body["status"] == "valid"
    for name in (FIRST, SECOND):
        rec = record(cluster, name)
        assert rec["thumbprint"] == thumbprint(new_key) != thumbprint(old_key)
        assert rec["url"] == account_url and rec["keyID"] == "ndc-key"
        assert jose.JWK.from_json(rec["jwk"]).thumbprint() == new_key.thumbprint()
    assert "account" not in (cluster.objects[(c.DELEGATION_KIND, "other-cdn")].get("status")
                             or {})

    # the new key speaks for the same account, its delegations and its order
    listing = ndc.post(changed.body["delegations"])
    assert listing.body["delegations"] == [f"{base}/acme/delegation/{n}"
                                           for n in (FIRST, SECOND)]
    assert ndc.post(order.headers["Location"]).body["status"] == "ready"
    assert ndc.post(changed.body["orders"]).body["orders"] == [order.headers["Location"]]
    again = Ndc(base + "/directory", ca, key=new_key).post(
        ndc.directory["newAccount"], {"onlyReturnExisting": True}, use_jwk=True)
    assert (again.status, again.headers["Location"]) == (200, account_url)

    # the old key speaks for nobody, and cannot register again (its thumbprint is the id)
    stale = Ndc(base + "/directory", ca, key=old_key, kid=account_url)
    refused = stale.post(account_url)
    assert (refused.status, refused.problem_type) == (400, "malformed")
    assert "signature" in refused.body["detail"]
    gone = stale.post(ndc.directory["newAccount"], {"onlyReturnExisting": True}, use_jwk=True)
    assert (gone.status, gone.problem_type) == (400, "accountDoesNotExist")
    stale.kid = None
    rebound = stale.register("ndc-key", MAC)
    assert (rebound.status, rebound.problem_type) == (403, "unauthorized")
    assert record(cluster, FIRST)["thumbprint"] == thumbprint(new_key)


@pytest.mark.parametrize("case,detail", [
    ("inner url", "url differs"),
    ("inner nonce", "must not have a nonce"),
    ("old key", "not the account's current key"),
    ("account", "does not match the kid"),
    ("not a JWS", "JWS"),
    ("kid inner", "new key as jwk"),
])
def test_every_rfc_check_of_the_inner_jws_refuses_and_writes_nothing(
        served: Any, case: str, detail: str) -> None:
    cluster = served[0]
    ndc = ndc_of(served)
    before = record(cluster, FIRST)
    new_key = ec_jwk()
    url = ndc.directory["keyChange"]
    body: Any
    if case == "inner url":
        body = ndc.key_change_body(new_key, inner_url=ndc.directory["newOrder"])
    elif case == "inner nonce":
        body = ndc.key_change_body(new_key, inner_nonce=ndc.fresh_nonce())
    elif case == "old key":
        body = ndc.key_change_body(new_key, old_key=ec_jwk())
    elif case == "account":
        body = ndc.key_change_body(new_key, account=ndc.kid + "x")
    elif case == "not a JWS":
        body = {"account": ndc.kid}
    else:  # an inner JWS with kid instead of jwk
        from acme import jws as acme_jws
        body = acme_jws.JWS.sign(b"{}", key=new_key, alg=jose.ES256, nonce=None, url=url,
                                 kid=ndc.kid).to_partial_json()
    answer = ndc.post(url, body)
    assert (answer.status, answer.problem_type) == (400, "malformed"), answer.body
    assert detail in answer.body["detail"]
    assert record(cluster, FIRST) == before
    assert ndc.post(ndc.kid).status == 200  # the old key still is the account's


def test_an_inner_jws_not_signed_by_its_jwk_is_refused(served: Any) -> None:
    cluster = served[0]
    ndc = ndc_of(served)
    before = record(cluster, FIRST)
    body = ndc.key_change_body(ec_jwk())
    forged = ndc.key_change_body(ec_jwk())
    body["signature"] = forged["signature"]  # another key's signature under this jwk
    answer = ndc.post(ndc.directory["keyChange"], body)
    assert (answer.status, answer.problem_type) == (400, "malformed")
    assert "signature" in answer.body["detail"]
    assert record(cluster, FIRST) == before


def test_a_key_another_account_holds_is_a_409_naming_it(served: Any) -> None:
    cluster = served[0]
    ndc = ndc_of(served)
    other = ndc_of(served, "other-key", OTHER_MAC)
    before = record(cluster, FIRST)
    answer = ndc.change_key(other.key)
    assert answer.status == 409, answer.body
    assert answer.headers["Location"] == other.kid != ndc.kid
    assert record(cluster, FIRST) == before
    same = ndc.change_key(ndc.key)  # its own current key is in use too: by itself
    assert (same.status, same.headers["Location"]) == (409, ndc.kid)


def lose_writes_to(cluster: FakeCluster, name: str, times: int) -> list[int]:
    """The next ``times`` status writes to Delegation ``name`` lose (409)."""
    left, real = [times], cluster.patch_delegation_status

    async def patch(target: str, status: Any, resource_version: str | None = None) -> Any:
        if target == name and left[0]:
            left[0] -= 1
            raise k8s.Conflict(409, "Conflict", "the object has been modified")
        return await real(target, status, resource_version)
    cluster.patch_delegation_status = patch  # type: ignore[method-assign]
    return left


def test_a_change_interrupted_after_the_first_delegation_is_completed_by_the_next_lookup(
        served: Any) -> None:
    cluster = served[0]
    ndc = ndc_of(served)
    assert ndc.post(ndc.kid).status == 200  # joins SECOND
    old_key, new_key = ndc.key, ec_jwk()
    left = lose_writes_to(cluster, SECOND, 1)
    assert ndc.change_key(new_key).status == 200  # committed on FIRST
    assert left == [0]
    assert record(cluster, FIRST)["thumbprint"] == thumbprint(new_key)
    assert record(cluster, SECOND)["thumbprint"] == thumbprint(old_key)  # left behind
    # the stale record does not make the old key an account key again
    stale = Ndc(ndc.directory_url, ndc.ca_pem, key=old_key)
    gone = stale.post(ndc.directory["newAccount"], {"onlyReturnExisting": True}, use_jwk=True)
    assert (gone.status, gone.problem_type) == (400, "accountDoesNotExist")
    assert ndc.post(ndc.kid).status == 200  # the lookup repairs SECOND
    assert record(cluster, SECOND)["thumbprint"] == thumbprint(new_key)
    assert record(cluster, SECOND)["jwk"] == record(cluster, FIRST)["jwk"]


def test_a_lost_race_on_the_commit_write_rereads_and_changes(served: Any) -> None:
    cluster = served[0]
    ndc = ndc_of(served)
    new_key = ec_jwk()
    left = lose_writes_to(cluster, FIRST, 1)
    assert ndc.change_key(new_key).status == 200
    assert left == [0]
    assert record(cluster, FIRST)["thumbprint"] == thumbprint(new_key)
    assert ndc.post(ndc.kid).status == 200


def test_a_delegation_that_keeps_changing_is_a_503_and_the_old_key_stays(served: Any) -> None:
    cluster = served[0]
    ndc = ndc_of(served)
    before = record(cluster, FIRST)
    lose_writes_to(cluster, FIRST, 100)
    answer = ndc.change_key(ec_jwk())
    assert (answer.status, answer.headers.get("Retry-After")) == (503, "1")
    assert record(cluster, FIRST) == before

"""The DNO's account key Secret (accounts.ensure_account_key) against a fake Secret store: an
existing key is used, a missing Secret is created as ours, a lost creation race uses the
winner's key, and a Secret without the key is refused rather than overwritten."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from star_operator import constants as c
from star_operator import k8s
from star_operator.ordering import accounts
from star_operator.ordering.templates import SecretRef
from star_operator.secrets import payload

REF = SecretRef("star-system", "dno-account", "tls.key")


def _secret(data: Mapping[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": REF.name, "namespace": REF.namespace}, "data": dict(data)}


class FakeSecrets:
    """A :class:`~star_operator.secrets.writer.SecretStore` holding Secrets by name; records
    every request. ``race`` is a Secret another worker creates between our GET and our POST."""

    def __init__(self, *secrets: dict[str, Any], race: dict[str, Any] | None = None) -> None:
        self.secrets = {s["metadata"]["name"]: copy.deepcopy(s) for s in secrets}
        self.requests: list[tuple[str, str]] = []
        self.race = race

    async def get_secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        self.requests.append(("GET", f"{namespace}/{name}"))
        found = self.secrets.get(name)
        return copy.deepcopy(found) if found else None

    async def create_secret(self, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]:
        name = body["metadata"]["name"]
        self.requests.append(("POST", f"{namespace}/{name}"))
        if self.race is not None:
            self.secrets[name], self.race = self.race, None
        if name in self.secrets:
            raise k8s.Conflict(409, "AlreadyExists", f'secrets "{name}" already exists')
        self.secrets[name] = copy.deepcopy(dict(body))
        return copy.deepcopy(dict(body))

    async def replace_secret(self, namespace: str, name: str,
                             body: Mapping[str, Any]) -> dict[str, Any]:
        raise AssertionError("the account key Secret is never replaced")


def _key(pem: bytes) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


async def test_an_existing_key_is_used_as_it_is() -> None:
    pem = accounts.new_account_key_pem()
    store = FakeSecrets(_secret({REF.key: payload.b64(pem)}))
    assert await accounts.ensure_account_key(REF, store=store) == (pem, False)
    assert store.requests == [("GET", "star-system/dno-account")]


async def test_a_missing_secret_is_created_with_a_fresh_es256_key_and_our_labels() -> None:
    store = FakeSecrets()
    pem, created = await accounts.ensure_account_key(REF, store=store)
    assert created
    assert store.requests == [("GET", "star-system/dno-account"),
                              ("POST", "star-system/dno-account")]
    body = store.secrets[REF.name]
    assert body["type"] == "Opaque"
    assert body["metadata"]["namespace"] == REF.namespace
    assert body["metadata"]["labels"] == {c.MANAGED_BY_LABEL: c.MANAGED_BY_VALUE}
    assert payload.unb64(body["data"][REF.key]) == pem
    assert isinstance(_key(pem).curve, ec.SECP256R1)  # RFC 8555 §6.2: every CA takes ES256


async def test_a_lost_creation_race_uses_the_winners_key() -> None:
    theirs = accounts.new_account_key_pem()
    store = FakeSecrets(race=_secret({REF.key: payload.b64(theirs)}))
    assert await accounts.ensure_account_key(REF, store=store) == (theirs, False)
    assert [verb for verb, _ in store.requests] == ["GET", "POST", "GET"]
    assert payload.unb64(store.secrets[REF.name]["data"][REF.key]) == theirs


@pytest.mark.parametrize("data", [{}, {REF.key: ""}, {"other": payload.b64(b"x")}])
async def test_a_secret_without_the_key_is_refused_not_overwritten(
        data: dict[str, str]) -> None:
    store = FakeSecrets(_secret(data))
    with pytest.raises(accounts.CaSettingsError) as caught:
        await accounts.ensure_account_key(REF, store=store)
    assert caught.value.reason == "SecretMissing"
    assert "star-system/dno-account" in caught.value.message
    assert repr(REF.key) in caught.value.message
    assert [verb for verb, _ in store.requests] == ["GET"]
    assert store.secrets[REF.name]["data"] == data

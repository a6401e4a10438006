"""star-ca's URL builder (star_ca.links) and the per-CA parsed-key cache (wfe.account_keys)."""
from __future__ import annotations

from typing import Any

import josepy as jose
from cryptography.hazmat.primitives.asymmetric import ec
from star_ca.db import Account
from star_ca.links import Links, order_account_url
from star_ca.services import Services
from star_ca.wfe.account_keys import AccountKeys

BASE = "https://ca.test:14000"


def test_urls_and_kid_round_trip() -> None:
    links = Links(BASE)
    assert links.account("a1") == BASE + "/acme/acct/a1" == order_account_url(BASE, "a1")
    assert links.finalize("o1") == BASE + "/acme/order/o1/finalize"
    assert links.star_cert("t") == BASE + "/acme/star/t"
    assert links.account_id(links.account("a1")) == "a1"
    for kid in (None, 7, BASE + "/acme/acct/", "https://other.test/acme/acct/a1",
                BASE + "/acme/order/a1"):
        assert links.account_id(kid) is None


def test_account_keys_per_thumbprint_and_per_services() -> None:
    def jwk() -> dict[str, str]:
        return dict(jose.JWKEC(key=ec.generate_private_key(ec.SECP256R1()).public_key())
                    .to_partial_json())

    keys = AccountKeys()
    acc = Account("a1", "thumb-1", jwk(), "valid", [], True)
    first = keys.key(acc)
    assert keys.key(acc) is first  # parsed once
    acc.thumbprint, acc.jwk = "thumb-2", jwk()  # keyChange
    assert keys.key(acc) != first and keys.key(acc).to_partial_json() == acc.jwk
    parts: list[Any] = [None] * 8  # the wired parts do not matter here
    assert Services(*parts).account_keys is not Services(*parts).account_keys

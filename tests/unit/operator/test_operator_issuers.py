"""StarIssuer parsing and the choice of delegation (pure logic; the wire is proven against
an in-process front end in tests/unit/acme and the real one in tests/integration)."""
from __future__ import annotations

from typing import Any

import pytest

from star_operator.ordering import issuers


def _body(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"namespace": "edge", "name": "dno"},
            "spec": {"directoryURL": "https://fe.test/directory",
                     "externalAccountBindingSecretRef": {"name": "eab"}, **spec}}


def test_defaults_name_the_account_key_and_ca_bundle() -> None:
    spec = issuers.parse_issuer(_body(caBundleSecretRef={"name": "roots"}))
    assert (spec.account_key_ref.name, spec.account_key_ref.key) == ("dno-acme-account",
                                                                     "tls.key")
    assert (spec.ca_bundle_ref.name, spec.ca_bundle_ref.key) == ("roots", "ca.crt")
    assert spec.delegation_url is None


def test_missing_binding_reference_is_named() -> None:
    body = _body()
    del body["spec"]["externalAccountBindingSecretRef"]
    with pytest.raises(issuers.IssuerError, match="externalAccountBindingSecretRef"):
        issuers.parse_issuer(body)


class _Client:
    account_url = "https://fe.test/acct/1"

    def __init__(self, granted: list[str]) -> None:
        self.granted = granted

    async def delegation_urls(self) -> list[str]:
        return self.granted


@pytest.mark.parametrize("granted, named, reason", [
    ([], None, "NoDelegation"),
    (["https://fe.test/d/1", "https://fe.test/d/2"], None, "DelegationAmbiguous"),
    (["https://fe.test/d/1"], "https://fe.test/d/9", "UnknownDelegation"),
])
async def test_delegation_choice_refusals(granted: list[str], named: str | None,
                                          reason: str) -> None:
    spec = issuers.parse_issuer(_body(delegationURL=named) if named else _body())
    with pytest.raises(issuers.IssuerError) as exc:
        await issuers._delegation_url(_Client(granted), spec)  # type: ignore[arg-type]
    assert exc.value.reason == reason


async def test_the_only_or_the_named_delegation_is_used() -> None:
    one = issuers.parse_issuer(_body())
    assert await issuers._delegation_url(_Client(["https://fe.test/d/1"]), one) \
        == "https://fe.test/d/1"  # type: ignore[arg-type]
    named = issuers.parse_issuer(_body(delegationURL="https://fe.test/d/2"))
    assert await issuers._delegation_url(
        _Client(["https://fe.test/d/1", "https://fe.test/d/2"]), named) \
        == "https://fe.test/d/2"  # type: ignore[arg-type]

"""When a CDN's StarOrder may stop waiting for the front end to confirm its cancel: only when
the front end says the account or Order1 is gone (the DNO deleted the Delegation)."""
from __future__ import annotations

import pytest

from star_operator import acme
from star_operator.acme.errors import ERROR_PREFIX
from star_operator.ordering import issuers, via_front_end


@pytest.mark.parametrize("exc, gone", [
    (acme.AcmeProblem(ERROR_PREFIX + "unauthorized", "no account", 403), True),
    (acme.AcmeProblem(ERROR_PREFIX + "accountDoesNotExist", "", 400), True),
    (acme.AcmeProblem(ERROR_PREFIX + "malformed", "no such order", 404), True),
    (acme.AcmeProblem(ERROR_PREFIX + "malformed", "bad JWS", 400), False),
    (acme.AcmeProblem(ERROR_PREFIX + "serverInternal", "", 500), False),
    (acme.AcmeConnectionError("https://fe.test/o/1", "refused"), False),
    (issuers.IssuerError("ExternalAccountBindingRefused", "refused"), True),
    (issuers.IssuerError("IssuerNotFound", "gone"), False),
])
def test_order1_gone(exc: Exception, gone: bool) -> None:
    assert via_front_end.order1_gone(exc) is gone


def test_applies_only_to_issuer_ref() -> None:
    assert via_front_end.applies({"issuerRef": {"name": "dno"}})
    assert not via_front_end.applies({"csrTemplateName": "t"})

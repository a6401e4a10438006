"""Reasons and metric labels come from closed lists, never from an exception's class name."""

from __future__ import annotations

import aiohttp
import pytest

from star_operator import acme, k8s
from star_operator.reasons import Failure, ProblemType, failure_of, problem_reason


class OddlyNamedCaFailure(acme.AcmeConnectionError):
    """A subclass added by a later refactoring: its name must not leak into a label."""


@pytest.mark.parametrize("exc,expected", [
    # The chart's alert matches these two values.
    (acme.AcmeConnectionError("https://ca", "refused"), "AcmeConnectionError"),
    (acme.AcmeTlsError("https://ca", "bad chain"), "AcmeTlsError"),
    (OddlyNamedCaFailure("https://ca", "x"), "AcmeConnectionError"),
    (acme.AcmeTimeout("slow"), "AcmeTimeout"),
    (acme.AcmeProtocolError("junk"), "AcmeProtocolError"),
    (k8s.ServerError(500, "Internal Server Error", "boom"), "APIServerError"),
    (TimeoutError(), "TimeoutError"),
    (aiohttp.ClientConnectionError(), "ConnectionError"),
    (ConnectionResetError(), "ConnectionError"),
    (ValueError("no PEM"), "InvalidResponse"),
    (KeyError("x"), "Error"),
])
def test_failure_of_maps_exceptions_into_the_closed_list(exc: BaseException,
                                                        expected: str) -> None:
    failure = failure_of(exc)
    assert isinstance(failure, Failure) and failure == expected


def test_ca_problem_types_are_reported_only_when_registered() -> None:
    limited = acme.AcmeProblem("urn:ietf:params:acme:error:rateLimited", "slow down")
    assert problem_reason(limited) == ProblemType.RATE_LIMITED == "rateLimited"
    canceled = acme.AcmeProblem("urn:ietf:params:acme:error:autoRenewalCanceled")
    assert ProblemType.of(canceled) is ProblemType.AUTO_RENEWAL_CANCELED
    for odd in ("urn:example:made-up", "urn:ietf:params:acme:error:notInAnyRfc", "about:blank"):
        assert problem_reason(acme.AcmeProblem(odd, "x")) == Failure.CA_PROBLEM == "AcmeProblem"


def test_order_failure_reasons_name_only_registered_problem_types() -> None:
    from star_operator.ordering import failures
    known = acme.AcmeProblem("urn:ietf:params:acme:error:rejectedIdentifier", "no")
    assert failures.classify_order_error(known)[0] == "CArejectedIdentifier"
    odd = acme.AcmeProblem("urn:ietf:params:acme:error:madeUpByThisCa", "no")
    assert failures.classify_order_error(odd)[0] == "CAProblem"

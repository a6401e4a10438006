"""StarOrder refusals before any CA contact, with the fake status sub-resource of
tests/unit/ordering/fakes.py: the condition, phase and Event written, and when the state
machine comes back."""

from __future__ import annotations

import asyncio

import pytest

from star_operator import constants as c
from star_operator.csr_template import Violation
from star_operator.ordering import issuance
from star_operator.ordering.issuance import Retry
from tests.unit.ordering.fakes import Fakes


def test_a_missing_template_is_named_and_retried_with_the_backoff() -> None:
    fakes = Fakes({})
    job = fakes.job()
    job.retry = 4  # fifth attempt: Backoff(first=1) gives 16 s
    with pytest.raises(Retry) as raised:
        asyncio.run(issuance.policy_of(job, "t", None))
    assert raised.value.delay == 16.0
    cond = fakes.patches[-1]["conditions"][0]
    assert (cond["status"], cond["reason"]) == ("False", "TemplateNotFound")
    assert fakes.events == [("Warning", "TemplateNotFound", "CsrTemplate 't' not found")]
    with pytest.raises(Retry) as again:  # the first attempt waits at least 5 s
        asyncio.run(issuance.policy_of(Fakes({}).job(), "t", None))
    assert again.value.delay == 5.0


def test_a_rejection_records_phase_violations_and_one_warning() -> None:
    fakes = Fakes({})
    violations = [Violation("spec.dnsNames", "www.other.test is outside the template")]
    for _ in range(2):  # the periodic re-check writes and warns only the first time
        with pytest.raises(Retry) as raised:
            asyncio.run(issuance.reject(fakes.job(), "TemplateViolation", violations))
        assert raised.value.delay == issuance.RECHECK_DELAY
    assert len(fakes.patches) == 1
    patch = fakes.patches[0]
    assert patch["phase"] == c.Phase.REJECTED
    assert patch["violations"] == [{"field": "spec.dnsNames",
                                    "message": "www.other.test is outside the template"}]
    assert [e[:2] for e in fakes.events] == [("Warning", "TemplateViolation")]

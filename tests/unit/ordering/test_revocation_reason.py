"""An ordinary StarOrder the delegation front end cancels for the NDC's revokeCert: its
certificate is revoked at the CA with the NDC's reason (the revocation-reason annotation),
even under ``revokeOnDelete: false``; without the annotation, cessationOfOperation, and
``revokeOnDelete: false`` keeps it. A fake CA records the revocations."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from star_operator import acme
from star_operator import constants as c
from star_operator.ordering import cancel
from star_operator.ordering.issuance import OrderJob
from star_operator.series import revocation
from tests.unit.delegation.test_revoke_cert import make_cert
from tests.unit.ordering.fakes import URL, Fakes

CERT_URL = "https://ca.test/cert/1"


class RevokingCa:
    def __init__(self) -> None:
        cert = make_cert(ec.generate_private_key(ec.SECP256R1()).public_key())
        self.chain = cert.public_bytes(serialization.Encoding.PEM).decode()
        self.serial = format(cert.serial_number, "x")
        self.revoked: list[tuple[str, int]] = []

    async def download_certificate(self, url: str) -> str:
        assert url == CERT_URL
        return self.chain

    async def revoke(self, chain: str, reason: int = 0, **_: Any) -> None:
        self.revoked.append((chain, reason))


def run(annotations: dict[str, str], spec: dict[str, Any], phase: str = "Valid",
        in_place: bool = False) -> tuple[RevokingCa, Fakes]:
    ca = RevokingCa()
    fakes = Fakes({"orderURL": URL, "orderState": "valid", "phase": phase,
                   "mode": c.Mode.ORDINARY, "series": {
                       "serial": ca.serial, "certificateURL": CERT_URL,
                       "outstanding": [{"url": CERT_URL, "notAfter": "2999-01-01T00:00:00Z"}]}})

    async def client_for(job: OrderJob) -> acme.AcmeClient:
        return ca  # type: ignore[return-value]
    job = fakes.job({"star": False, "canceled": True, **spec}, annotations)
    end = cancel.cancel_in_place if in_place else cancel.end_at_ca
    asyncio.run(end(job, 60.0, client_for))
    return ca, fakes


def test_the_ndcs_reason_is_the_revocation_reason() -> None:
    ca, fakes = run({c.REVOCATION_REASON_ANNOTATION: "4"}, {"revokeOnDelete": False})
    assert ca.revoked == [(ca.chain, 4)]
    assert fakes.patches[-1]["series"]["revoked"] == [ca.serial]
    assert "reason 4, asked by the NDC" in fakes.events[-1][2]


def test_without_the_annotation_cessation_of_operation_and_revoke_on_delete_rule() -> None:
    ca, _ = run({}, {})
    assert ca.revoked == [(ca.chain, revocation.CESSATION_OF_OPERATION)]
    kept, _ = run({}, {"revokeOnDelete": False})
    assert kept.revoked == []


def test_a_canceled_order_that_kept_its_certificate_revokes_when_the_ndc_asks() -> None:
    kept, _ = run({}, {"revokeOnDelete": False}, phase="Canceled", in_place=True)
    assert kept.revoked == []  # canceled already: nothing to do
    ca, fakes = run({c.REVOCATION_REASON_ANNOTATION: "1"}, {"revokeOnDelete": False},
                    phase="Canceled", in_place=True)
    assert ca.revoked == [(ca.chain, 1)]
    assert fakes.patches[0]["series"]["revoked"] == [ca.serial]


@pytest.mark.parametrize("text,reason", [("0", 0), ("10", 10), ("7", None), ("x", None),
                                         (None, None)])
def test_requested_reason(text: str | None, reason: int | None) -> None:
    ann = {} if text is None else {c.REVOCATION_REASON_ANNOTATION: text}
    assert revocation.requested_reason({"metadata": {"annotations": ann}}) == reason

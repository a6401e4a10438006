"""The CDN's ordinary Order1 (``spec.star: false`` with ``spec.issuerRef``, RFC 9115 §2.3.3):
which kind of Order1 is placed, when nothing is ever done again, that deletion cancels
nothing, and that a restart after finalize continues the recorded Order1 (downloads and
installs its certificate) instead of placing a second one."""
from __future__ import annotations

import datetime
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from star_operator import acme
from star_operator.ordering import capabilities, request, via_front_end
from star_operator.ordering.issuance import OrderJob
from star_operator.verify import VerifiedCertificate

NOW = datetime.datetime(2026, 12, 2, 12, 0, tzinfo=datetime.timezone.utc)
SPEC = {"issuerRef": {"name": "dno"}, "dnsNames": ["www.star.test"], "secretName": "www-tls",
        "lifetime": "1h", "duration": "1d", "star": False}


def test_mode_follows_spec_star() -> None:
    assert via_front_end.mode_of(SPEC) == capabilities.ORDINARY
    assert via_front_end.mode_of({**SPEC, "star": True}) == capabilities.NATIVE
    assert via_front_end.mode_of({k: v for k, v in SPEC.items() if k != "star"}) == "Native"


def test_ordinary_order1_has_no_auto_renewal() -> None:
    req = request.build_request(SPEC, NOW)
    assert via_front_end.order1_renewal(req, capabilities.ORDINARY) is None
    star = via_front_end.order1_renewal(req, capabilities.NATIVE)
    assert star is not None and star.lifetime == 3600 and star.end_date == req.end_date


@pytest.mark.parametrize("status, done", [
    ({"mode": "Ordinary", "phase": "Valid", "certificateURL": "https://fe/c/1"}, True),
    ({"mode": "Ordinary", "phase": "Ordered", "orderURL": "https://fe/o/1"}, False),
    ({"mode": "Ordinary", "phase": "Valid"}, False),  # valid, certificate not installed yet
    ({"mode": "Native", "phase": "Valid", "certificateURL": "https://fe/c/1"}, False),
])
def test_settled_only_once_the_ordinary_certificate_is_installed(status: dict[str, Any],
                                                                  done: bool) -> None:
    assert via_front_end.settled(status) is done


def test_nothing_to_cancel_only_for_a_cdn_ordinary_order() -> None:
    assert via_front_end.nothing_to_cancel(SPEC, {"mode": "Ordinary", "orderURL": "u"})
    assert not via_front_end.nothing_to_cancel(SPEC, {"mode": "Native", "orderURL": "u"})
    dno = {"csrTemplateName": "t", "star": False}  # the DNO's own: revoked on delete
    assert not via_front_end.nothing_to_cancel(dno, {"mode": "Ordinary", "orderURL": "u"})


class Recorder:
    """The StatusRecorder surface reconcile uses, in memory."""

    def __init__(self, status: dict[str, Any]) -> None:
        self.status, self.generation, self.events = dict(status), 1, []

    @property
    def phase(self) -> str:
        return self.status.get("phase") or "Pending"

    def get(self, key: str, default: Any = None) -> Any:
        return self.status.get(key, default)

    async def record(self, **fields: Any) -> None:
        self.status.update(fields)

    async def ready(self, ready: bool, reason: str, message: str, *,
                    event: str | None = None, **fields: Any) -> None:
        self.status.update(fields, ready=(ready, reason, message))

    def post_event(self, kind: str, reason: str, message: str) -> None:
        self.events.append((kind, reason, message))


class Client:
    """A front end whose Order1 is valid with its ordinary certificate; anything that would
    place or finalize an Order1 fails the test."""

    def __init__(self, order: acme.Order) -> None:
        self.order, self.got = order, []

    async def get_order(self, url: str) -> acme.Order:
        self.got.append(url)
        return self.order

    async def new_order(self, *args: Any, **kwargs: Any) -> acme.Order:
        raise AssertionError("a second Order1 was placed")

    async def finalize(self, *args: Any, **kwargs: Any) -> acme.Order:
        raise AssertionError("Order1 was finalized twice")


def _csr_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "www.star.test")]))
           .sign(key, hashes.SHA256()))
    return csr.public_bytes(serialization.Encoding.PEM).decode()


async def test_resume_after_finalize_installs_without_a_second_order1(
        monkeypatch: pytest.MonkeyPatch) -> None:
    order = acme.Order.from_json("https://fe/o/1", {
        "status": "valid", "identifiers": [{"type": "dns", "value": "www.star.test"}],
        "finalize": "https://fe/o/1/finalize", "certificate": "https://fe/o/1/cert"})
    client = Client(order)
    front = via_front_end.FrontEnd(client=client, ca_pem=b"roots",  # type: ignore[arg-type]
                                   delegation=None, template=None)  # type: ignore[arg-type]
    cert = VerifiedCertificate(chain=[], serial="0a", not_before=NOW,
                               not_after=NOW + datetime.timedelta(hours=1),
                               dns_names=["www.star.test"], common_name=None)
    installed: list[tuple[str, Any]] = []

    async def fake_front_end(job: OrderJob) -> via_front_end.FrontEnd:
        return front

    async def fake_install(c: Any, url: str, target: Any, *, clock_skew: float) -> Any:
        installed.append((url, target))
        return cert

    monkeypatch.setattr(via_front_end, "_front_end", fake_front_end)
    monkeypatch.setattr(via_front_end.install, "install", fake_install)
    rec = Recorder({"phase": "Ordered", "mode": "Ordinary", "orderURL": order.url,
                    "csr": _csr_pem(), "endDate": "2026-12-03T12:00:00Z"})
    job = OrderJob(namespace="cdn", name="www", default_namespace="star-system",
                   body={"metadata": {"namespace": "cdn", "name": "www", "uid": "u1"},
                         "spec": SPEC}, recorder=rec)  # type: ignore[arg-type]

    await via_front_end.reconcile(job)
    assert client.got == [order.url]
    assert [(url, t.secret_name, t.issuer_name, t.ca_pem) for url, t in installed] == [
        ("https://fe/o/1/cert", "www-tls", "dno", b"roots")]
    assert rec.status["ready"][:2] == (True, "Issued")
    assert rec.status["phase"] == "Valid"
    assert rec.status["certificateURL"] == "https://fe/o/1/cert"
    assert rec.status["notAfter"] == "2026-12-02T13:00:00Z"

    await via_front_end.reconcile(job)  # settled: no front end, no download, ever again
    assert client.got == [order.url] and len(installed) == 1

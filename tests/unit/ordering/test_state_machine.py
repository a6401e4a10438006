"""The StarOrder issuance state machine (issuance.reconcile) driven attempt by attempt with
fakes only (tests/unit/ordering/fakes.py: status and Events, one STAR CA, Secrets, custom
objects): every phase it moves through and each failure class, asserting on the ACME requests
made, the status patches and Ready conditions written, the Events posted and the retry delay
(the job's Backoff(first=1, spread=0): attempt n waits 2^(n-1) s)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from star_operator import acme, timeutil
from star_operator import constants as c
from star_operator.acme.errors import ERROR_PREFIX
from star_operator.dns01 import Dns01Error
from star_operator.ordering import accounts, issuance, readiness, request
from star_operator.ordering.client_cache import AccountClients
from star_operator.ordering.issuance import Retry
from star_operator.ordering.templates import parse_template
from star_operator.secrets import ownership, payload
from star_operator.secrets.handoff import SecretHandoff
from star_operator.secrets.read_cache import TtlSecretCache
from tests.unit.ordering.fakes import (STAR_URL, URL, FakeCa, FakeObjects, Fakes, FakeSecrets,
                                       lookup)

ACCOUNT_KEY = accounts.new_account_key_pem()
TSIG = "c2VjcmV0LXNlY3JldC1zZWNyZXQ="
TEMPLATE = {
    "apiVersion": c.API_VERSION, "kind": "CsrTemplate",
    "metadata": {"name": "t", "generation": 1},
    "spec": {
        "template": {
            "keyTypes": [{"PublicKeyType": "id-ecPublicKey", "namedCurve": "secp256r1",
                          "SignatureType": "ecdsa-with-SHA256"}],
            "subject": {"commonName": "**"},
            "extensions": {"subjectAltName": {"DNS": ["**", "*"]},
                           "keyUsage": ["digitalSignature"],
                           "extendedKeyUsage": ["serverAuth"]}},
        "domains": ["star.test"], "allowedNamespaces": ["ns"],
        "star": {"minLifetime": "10s", "maxLifetime": "4d", "maxDuration": "30d"},
        "acme": {"directoryURL": "https://ca.test/directory",
                 "accountKeySecretRef": {"name": "acct", "namespace": "star-operator"}},
        "dns01": {"rfc2136": {"nameserver": "127.0.0.1:5353", "zone": "star.test",
                              "tsigKeyName": "k", "tsigSecretSecretRef": {"name": "tsig"}}}}}
SPEC = {"dnsNames": ["www.star.test"], "keyType": "ecdsa-p256", "lifetime": "1h",
        "duration": "7d"}
NEW_ORDER = "NEW-ORDER www.star.test"


def _secret(name: str, key: str, value: bytes) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "star-operator"},
            "data": {key: payload.b64(value)}}


class Machine:
    """One StarOrder reconciled attempt after attempt as kopf would: a new OrderJob each time,
    the retry count growing while attempts raise Retry and reset by one that does not."""

    def __init__(self, ca: FakeCa, template: dict[str, Any] | None = TEMPLATE,
                 template_secrets: bool = False, **spec: Any) -> None:
        self.ca, self.fakes, self.spec = ca, Fakes({}), {**SPEC, **spec}
        self.secrets = FakeSecrets(_secret("acct", "tls.key", ACCOUNT_KEY),
                                   _secret("tsig", "secret", TSIG.encode()))
        self.objects = FakeObjects()
        self.handoff = SecretHandoff()
        if template is not None:
            self.objects.put(c.CSRTEMPLATE_PLURAL, None, template)
        self.templates: AccountClients[str] = AccountClients()
        self.retry, self.generation = 0, 1
        self.owners: set[ownership.Owner] = set()
        #: The operator's cache of the template's Secrets over the fake store, on a clock the
        #: test moves (``self.now``).
        self.now = 0.0
        self.cache = (TtlSecretCache(self.secrets, ttl=30.0, clock=lambda: self.now)
                      if template_secrets else None)

    async def attempt(self) -> Retry | None:
        """One reconcile; the Retry it raised (None: it finished for now)."""
        policy = parse_template(TEMPLATE, "star-operator")
        fp = accounts.CaMaterial(ACCOUNT_KEY, None, TSIG).fingerprint(policy)

        async def registered(client: acme.AcmeClient) -> None:
            pass
        # the operator's client of template "t" is the fake CA (as if registered earlier)
        await self.templates.get("t", fp, lambda: self.ca, registered)  # type: ignore
        job = self.fakes.job(self.spec, generation=self.generation, secrets=self.secrets,
                             objects=self.objects, templates=self.templates,
                             owner_exists=lookup(self.owners), template_secrets=self.cache,
                             handoff=self.handoff)
        job.retry = self.retry
        try:
            await issuance.reconcile(job)
        except Retry as retry:
            self.retry += 1
            return retry
        self.retry = 0
        return None

    async def issued(self) -> bool:
        """An attempt that finishes, then the new StarCertificate's first Ready: whether the
        StarOrder is then Valid."""
        if await self.attempt() is not None:
            return False
        await self.certificate_reports()
        return self.fakes.status.get("phase") == c.Phase.VALID

    async def certificate_reports(self, ready: bool = True) -> bool:
        """The StarCertificate's loop writes its first Ready and mirrors it onto the StarOrder
        as it does (readiness.mirror_to_order, promotion first, over the fake status)."""
        cert = self.certificate()
        assert cert is not None
        cond = {"type": "Ready", "status": "True" if ready else "False",
                "reason": "Current" if ready else "CertificateNotVerified", "message": "m"}
        cert["status"] = {"conditions": [cond]}
        return await readiness.mirror_to_order(
            "ns", "web", "tls", cond, self.fakes.post, patch_ops=self.fakes.json_patch_status,
            promotion=readiness.Promotion(cert["spec"]["starCertificateURL"], "web"),
            promote_first=True)

    def certificate(self) -> dict[str, Any] | None:
        return self.objects.objects.get((c.STARCERTIFICATE_PLURAL, "ns", "web"))

    def staged_key(self) -> bytes | None:
        return payload.unb64((self.secrets.secrets.get("tls") or {}).get("data", {})
                             .get(c.STAGED_KEY))


def _problem(short: str, status: int = 400, detail: str = "") -> acme.AcmeProblem:
    return acme.AcmeProblem(ERROR_PREFIX + short, detail, status)


async def test_a_first_attempt_goes_pending_key_staged_ordered_valid() -> None:
    m = Machine(FakeCa())
    assert await m.attempt() is None
    assert m.ca.requests == ["GET directory", NEW_ORDER, f"DNS-01 {URL}", f"GET {URL}",
                             f"FINALIZE {URL}"]
    # Valid comes with the StarCertificate's first Ready (below), not from this attempt
    assert m.fakes.phases() == [c.Phase.KEY_STAGED, c.Phase.ORDERED]
    status = m.fakes.status
    assert status["orderURL"] == URL and "newOrderAt" not in status
    assert status["accountURL"] == m.ca.account_url and status["mode"] == "Native"
    assert m.fakes.ready() == ("False", "KeyStaged") and m.fakes.events == []
    # the key was staged before anything was asked of the CA, by a create (no read first)
    assert m.secrets.calls == ["create tls", "get acct", "get tsig"]
    assert m.staged_key() and m.ca.csr_der is not None
    # recorded together with the marker, in the write before newOrder was sent
    first = m.fakes.patches[0]
    assert first["phase"] == c.Phase.KEY_STAGED and "csr" in first and "newOrderAt" in first
    assert len(m.fakes.patches) == 2  # key + marker, the order's URL
    # the Secret as staged, left for the StarCertificate's first cycle
    assert json.loads(m.handoff.take("ns", "tls") or b"") == m.secrets.secrets["tls"]
    cert = m.certificate()
    assert cert is not None and cert["spec"]["starCertificateURL"] == URL + "/star"
    assert cert["spec"]["dnsNames"] == ["www.star.test"]
    assert cert["metadata"]["ownerReferences"][0]["uid"] == "uid-web"
    assert cert["metadata"]["finalizers"] == [c.FINALIZER]  # kopf's, so kopf adds no PATCH
    # no copy of its spec for kopf either: StarCertificates have no kopf change handlers
    assert not (cert["metadata"].get("annotations") or {})
    # its first Ready: Valid, the star-certificate URL and Ready in one write, one Event
    assert await m.certificate_reports()
    assert m.fakes.phases()[-1] == c.Phase.VALID and len(m.fakes.patches) == 3
    assert status["orderState"] == "valid" and status["starCertificateURL"] == STAR_URL
    assert status["certificateName"] == "web"
    assert m.fakes.ready() == ("True", readiness.ISSUED)
    assert [e[:2] for e in m.fakes.events] == [("Normal", readiness.ISSUED)]


async def test_a_valid_order_follows_its_certificate_without_asking_the_ca() -> None:
    m = Machine(FakeCa())
    assert await m.issued()
    requests, patches = list(m.ca.requests), len(m.fakes.patches)
    cert = m.certificate()
    assert cert is not None
    assert await m.attempt() is None
    assert m.ca.requests == requests  # nothing placed, nothing fetched
    assert m.fakes.ready() == ("True", readiness.ISSUED)
    assert len(m.fakes.patches) == patches and len(m.fakes.events) == 1  # nothing new
    # the attempt that made the order valid created it without a look; the resumed one read it
    assert m.objects.calls == [f"get {c.CSRTEMPLATE_PLURAL}/t",
                               f"create {c.STARCERTIFICATE_PLURAL}/web",
                               f"get {c.CSRTEMPLATE_PLURAL}/t",
                               f"get {c.STARCERTIFICATE_PLURAL}/web"]
    assert m.certificate() is cert  # kept, not replaced


async def test_a_resumed_valid_order_drops_a_not_after_an_earlier_version_copied() -> None:
    m = Machine(FakeCa())
    assert await m.issued()
    m.fakes.status["notAfter"] = "2030-01-01T00:00:00Z"  # copied at every rotation, once
    patches = len(m.fakes.patches)
    assert await m.attempt() is None
    assert "notAfter" not in m.fakes.status and len(m.fakes.patches) == patches + 1
    assert await m.attempt() is None
    assert len(m.fakes.patches) == patches + 1  # gone: nothing more to write


async def test_the_ca_refusing_new_order_is_retried_with_backoff_and_the_key_kept() -> None:
    m = Machine(FakeCa())
    m.ca.fail("new_order", _problem("rejectedIdentifier", detail="www.star.test"),
              _problem("rejectedIdentifier", detail="www.star.test"))
    delays = []
    for _ in range(2):
        retry = await m.attempt()
        assert retry is not None
        delays.append(retry.delay)
    assert delays == [1.0, 2.0]  # Backoff(first=1): the retry count grows
    assert m.fakes.ready() == ("False", "CArejectedIdentifier")
    assert m.fakes.status["phase"] == c.Phase.KEY_STAGED and "orderURL" not in m.fakes.status
    assert "lastError" in m.fakes.status
    assert [e[:2] for e in m.fakes.events] == [("Warning", "CArejectedIdentifier")]  # not twice
    # the second attempt looked for an order the first might have made, and staged no new key
    assert m.ca.requests == ["GET directory", NEW_ORDER, "GET directory", "LIST orders",
                             NEW_ORDER]
    assert m.secrets.calls.count("create tls") == 1 and "replace tls" not in m.secrets.calls
    assert m.fakes.phases() == [c.Phase.KEY_STAGED]
    assert await m.issued()


async def test_a_ca_down_is_ca_unreachable_then_the_next_attempt_proceeds() -> None:
    m = Machine(FakeCa())
    m.retry = 3
    m.ca.fail("directory", acme.AcmeConnectionError("https://ca.test/directory", "refused"))
    retry = await m.attempt()
    assert retry is not None and retry.delay == 8.0  # fourth attempt
    assert m.ca.requests == ["GET directory"]  # nothing ordered
    assert m.fakes.ready() == ("False", "CAUnreachable")
    assert m.fakes.events[-1][:2] == ("Warning", "CAUnreachable")
    assert "newOrderAt" not in m.fakes.status  # never sent: nothing to adopt later
    # the staged key's record, held for the newOrder marker, went with the failure instead
    assert m.fakes.status["phase"] == c.Phase.KEY_STAGED and m.fakes.status["csr"]
    assert len(m.fakes.patches) == 1
    assert await m.attempt() is None
    assert m.ca.requests[1:] == ["GET directory", NEW_ORDER, f"DNS-01 {URL}", f"GET {URL}",
                                 f"FINALIZE {URL}"]
    assert "lastError" in m.fakes.status  # until the StarCertificate's first Ready
    assert await m.certificate_reports()
    assert "lastError" not in m.fakes.status and m.fakes.status["phase"] == c.Phase.VALID
    assert m.secrets.calls.count("create tls") == 1 and "replace tls" not in m.secrets.calls


async def test_an_order_whose_answer_was_lost_is_adopted_not_placed_twice() -> None:
    m = Machine(FakeCa())
    m.ca.fail("new_order_answer", acme.AcmeConnectionError("https://ca.test/order", "reset"))
    retry = await m.attempt()
    assert retry is not None and m.fakes.ready() == ("False", "CAUnreachable")
    assert "newOrderAt" in m.fakes.status and "orderURL" not in m.fakes.status
    assert await m.issued()
    assert m.ca.placed == 1 and m.ca.requests.count(NEW_ORDER) == 1
    assert m.ca.requests[2:5] == ["GET directory", "LIST orders", f"GET {URL}"]
    assert ("Normal", "OrderAdopted") in [e[:2] for e in m.fakes.events]
    assert m.fakes.status["orderURL"] == URL and m.fakes.status["phase"] == c.Phase.VALID


async def test_a_dns01_failure_keeps_the_order_and_continues_it() -> None:
    # the default reason: its mapping to DNS* reasons is tests/unit/operator's business
    m = Machine(FakeCa())
    m.ca.fail("dns01", Dns01Error("TXT record not served"))
    retry = await m.attempt()
    assert retry is not None and retry.delay == 1.0
    assert m.fakes.ready() == ("False", "DNSUpdateFailed")
    assert m.fakes.events[-1][:2] == ("Warning", "DNSUpdateFailed")
    assert "TXT record not served" in m.fakes.status["lastError"]
    assert m.fakes.status["phase"] == c.Phase.ORDERED and m.fakes.status["orderURL"] == URL
    assert m.ca.requests == ["GET directory", NEW_ORDER, f"DNS-01 {URL}"]
    assert await m.issued()
    # resumed: the recorded order read back and solved, never a second newOrder
    assert m.ca.requests[3:] == [f"GET {URL}", f"DNS-01 {URL}", f"GET {URL}", f"FINALIZE {URL}"]


async def test_the_template_secrets_are_cached_and_read_again_after_a_failure() -> None:
    """Through the operator's cache the template's account key and TSIG Secrets are read once
    per TTL, not once per reconcile; a DNS failure (perhaps a rotated TSIG key) drops them, so
    the retry reads them again."""
    m = Machine(FakeCa(), template_secrets=True)
    m.ca.fail("dns01", Dns01Error("TXT record not served"))
    assert await m.attempt() is not None
    assert await m.issued()  # the retry, after the failure dropped the cache
    assert await m.attempt() is None  # a later reconcile of the valid order, within the TTL
    template_reads = [call for call in m.secrets.calls if call in ("get acct", "get tsig")]
    assert template_reads == ["get acct", "get tsig"] * 2
    m.now += 31.0  # past the TTL: read again
    assert await m.attempt() is None
    assert m.secrets.calls[-2:] == ["get acct", "get tsig"]


async def test_finalize_refused_is_a_ca_problem_and_retried() -> None:
    m = Machine(FakeCa())
    m.ca.fail("finalize", _problem("badCSR", detail="key too weak"))
    retry = await m.attempt()
    assert retry is not None and retry.delay == 1.0
    assert m.fakes.ready() == ("False", "CAbadCSR")
    assert "key too weak" in m.fakes.status["lastError"]
    assert m.fakes.status["phase"] == c.Phase.ORDERED
    assert await m.attempt() is None  # the order is ready: finalize again, no new dns-01
    assert m.ca.requests[-2:] == [f"GET {URL}", f"FINALIZE {URL}"]
    assert m.ca.requests.count(f"DNS-01 {URL}") == 1


async def test_an_order_still_processing_is_recorded_and_retried() -> None:
    m = Machine(FakeCa(finalized="processing"))
    retry = await m.attempt()
    assert retry is not None and "still processing" in str(retry) and retry.delay == 1.0
    assert m.fakes.status["orderState"] == "processing"
    assert m.fakes.status["phase"] == c.Phase.ORDERED
    m.ca.finalized = "valid"
    assert await m.issued()
    assert m.ca.requests[-2:] == [f"GET {URL}", f"WAIT {URL}"]


async def test_an_invalid_order_fails_until_the_spec_is_edited() -> None:
    m = Machine(FakeCa(finalized="invalid"))
    m.ca.error = {"type": ERROR_PREFIX + "unauthorized", "detail": "CAA forbids"}
    assert await m.attempt() is None  # final: no retry
    assert m.fakes.status["phase"] == c.Phase.FAILED
    assert m.fakes.ready() == ("False", "OrderInvalid")
    assert "CAA forbids" in m.fakes.status["conditions"][0]["message"]
    assert m.fakes.events[-1][:2] == ("Warning", "OrderInvalid")
    requests, patches = len(m.ca.requests), len(m.fakes.patches)
    assert await m.attempt() is None  # same generation: left alone
    assert len(m.ca.requests) == requests and len(m.fakes.patches) == patches
    m.generation, m.ca.finalized, m.ca.error = 2, "valid", None  # the spec edited
    m.spec["lifetime"] = "2h"
    assert await m.issued()
    assert m.fakes.phases()[-4:] == [c.Phase.PENDING, c.Phase.KEY_STAGED, c.Phase.ORDERED,
                                     c.Phase.VALID]
    assert m.ca.requests.count(NEW_ORDER) == 2 and m.fakes.status["orderState"] == "valid"


async def test_an_order_canceled_at_the_ca_ends_in_canceled() -> None:
    m = Machine(FakeCa())
    m.ca.fail("dns01", Dns01Error("no answer"))
    await m.attempt()
    m.ca.state = "canceled"  # the DNO canceled it meanwhile
    assert await m.attempt() is None
    assert m.fakes.status["phase"] == c.Phase.CANCELED
    assert m.fakes.ready() == ("False", "OrderCanceled")
    assert m.ca.requests[-1] == f"GET {URL}"
    requests = len(m.ca.requests)
    assert await m.attempt() is None and len(m.ca.requests) == requests  # nothing more


async def test_a_valid_order_without_star_certificate_fails() -> None:
    m = Machine(FakeCa(star_certificate=False))
    assert await m.attempt() is None
    assert m.fakes.status["phase"] == c.Phase.FAILED
    assert m.fakes.ready() == ("False", "NoStarCertificate")
    assert m.certificate() is None


@pytest.mark.parametrize("change, template, reason, phase", [
    ({}, None, "TemplateNotFound", None),
    ({"dnsNames": ["www.other.test"]}, TEMPLATE, "TemplateViolation", c.Phase.REJECTED),
    ({"lifetime": "5d"}, TEMPLATE, "TemplateViolation", c.Phase.REJECTED),
    ({"duration": "bogus"}, TEMPLATE, "SpecInvalid", c.Phase.REJECTED),
    ({}, {**TEMPLATE, "spec": {**TEMPLATE["spec"], "allowedNamespaces": ["other"]}},
     "NamespaceNotAllowed", c.Phase.REJECTED),
    ({}, {**TEMPLATE, "spec": {**TEMPLATE["spec"], "acme": {}}}, "TemplateInvalid", None),
])
async def test_refusals_never_reach_the_ca_nor_write_a_key(
        change: dict[str, Any], template: dict[str, Any] | None, reason: str,
        phase: str | None) -> None:
    m = Machine(FakeCa(), template=template, **change)
    retry = await m.attempt()
    assert retry is not None
    assert retry.delay in (issuance.RECHECK_DELAY, 5.0)
    assert m.ca.requests == []
    assert not [call for call in m.secrets.calls if not call.startswith("get")]
    assert m.fakes.ready() == ("False", reason)
    assert m.fakes.phases() == ([phase] if phase else [])
    assert [e[:2] for e in m.fakes.events] == [("Warning", reason)]


async def test_a_missing_account_key_secret_is_named_before_the_ca() -> None:
    m = Machine(FakeCa())
    del m.secrets.secrets["acct"]
    m.retry = 1
    retry = await m.attempt()
    assert retry is not None and retry.delay == 2.0
    assert m.fakes.ready() == ("False", "SecretMissing")
    assert "star-operator/acct" in m.fakes.status["conditions"][0]["message"]
    assert m.ca.requests == []


async def test_a_secret_held_by_another_owner_stops_before_the_key_and_the_ca() -> None:
    holder = ownership.Owner(c.STARORDER_KIND, "ns", "holder", "uid-holder")
    m = Machine(FakeCa())
    m.secrets.secrets["tls"] = {"metadata": {"name": "tls", "namespace": "ns",
                                             "resourceVersion": "3",
                                             "labels": payload.managed_labels(),
                                             "annotations": holder.annotations()},
                                "type": "kubernetes.io/tls", "data": {}}
    m.owners.add(holder)
    retry = await m.attempt()
    assert retry is not None and retry.delay == 1.0
    assert m.fakes.ready() == ("False", "SecretConflict")
    assert m.ca.requests == [] and m.fakes.phases() == []
    assert "replace tls" not in m.secrets.calls
    m.owners.clear()  # the holder deleted: the next attempt takes the Secret over
    assert await m.issued() and m.staged_key()


async def test_an_immutable_field_edited_after_ordering_keeps_the_original_order() -> None:
    m = Machine(FakeCa())
    assert await m.issued()
    m.spec["dnsNames"] = ["api.star.test"]
    m.generation = 2
    requests = len(m.ca.requests)
    assert await m.attempt() is None
    assert m.fakes.ready() == ("False", "ImmutableFieldChanged")
    assert "spec.dnsNames" in m.fakes.status["conditions"][0]["message"]
    assert len(m.ca.requests) == requests  # no new order for the edited names
    cert = m.certificate()
    assert cert is not None and cert["spec"]["dnsNames"] == ["www.star.test"]


async def test_a_certificate_created_by_a_cut_off_attempt_is_kept_not_duplicated() -> None:
    """The order just became valid, but an earlier attempt had created the StarCertificate
    before it was cut off: the create is a 409, the existing one is read and its spec kept in
    line, and it is returned (its status says whether the Secret holds a certificate)."""
    m = Machine(FakeCa())
    await m.attempt()
    cert = m.certificate()
    assert cert is not None
    cert["spec"]["starCertificateURL"] = "https://ca.test/stale"
    job = m.fakes.job(m.spec, secrets=m.secrets, objects=m.objects)
    policy = parse_template(TEMPLATE, "star-operator")
    req = request.build_request(m.spec, timeutil.utcnow(), None)
    calls = len(m.objects.calls)
    found = await issuance.ensure_certificate(job, policy, None, req, URL + "/star", new=True)
    assert found is cert and m.certificate() is cert
    assert cert["spec"]["starCertificateURL"] == URL + "/star"
    assert m.objects.calls[calls:] == [f"create {c.STARCERTIFICATE_PLURAL}/web",
                                       f"get {c.STARCERTIFICATE_PLURAL}/web",
                                       f"patch {c.STARCERTIFICATE_PLURAL}/web"]

"""The front end against the real control plane, operator, BIND 9 and star-ca, spoken to over
HTTPS by an NDC built from josepy/acme primitives: EAB account, delegation discovery, Order1,
finalize, the StarOrder of the contract, Order1 valid with the CA's star-certificate, a restart
that loses nothing and repeats nothing, cancellation ending the series at the CA; the ordinary
variant and the DNO deleting the Delegation; an emulated series served by the front end; and
what it refuses: accounts without a valid External Account Binding, forged and replayed JWS,
another NDC's delegation and orders, names outside the delegation, STAR bounds, and CSRs
outside the template (403 with the template field named), none leaving anything behind.

One module, so the CA, operator, namespace and front end start once for all of it."""
from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from front_end_fixtures import (  # noqa: F401
    crds, delegation, dno_namespace, front_end, mac_key, operator_process, star_ca, star_env)
from ndc_client import Ndc, wait_valid
from tests.integration.operator.op_delegated import cdn_request, spki, star_get
from tests.integration.operator.op_env import (StarEnv, ca_orders, ca_revocations, get,
                                               installed, public_ca, wait_condition)
from tests.waiting import wait_for

from star_devenv.front_end import LocalFrontEnd
from star_devenv.kubectl import Kubectl
from star_operator.csr_template import load_template

pytestmark = [pytest.mark.cluster, pytest.mark.dns]
GROUP = "star.operator.dev"
SHORT = 10  # seconds: certificates of the STAR-less CA's "short" profile


@pytest.fixture(scope="module")
def public_env(kubectl: Kubectl, crds: None, dns_server: Any) -> Iterator[StarEnv]:
    """A CsrTemplate at star-ca playing a public CA (no STAR, a 10 s profile)."""
    with public_ca(dns_server, {"short": SHORT}) as ca, installed(StarEnv(
            kubectl, dns_server, ca, suffix=f"p{uuid.uuid4().hex[:5]}", profile="short")) as env:
        yield env


def rfc3339(seconds: float) -> str:
    when = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=seconds)
    return when.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def der_b64(csr_pem: str) -> str:
    der = x509.load_pem_x509_csr(csr_pem.encode()).public_bytes(serialization.Encoding.DER)
    return base64.urlsafe_b64encode(der).decode().rstrip("=")


def test_star_delegation_end_to_end_with_restart_and_cancel(
        kubectl: Kubectl, star_env: StarEnv, dno_namespace: str,
        front_end: LocalFrontEnd) -> None:
    ns, zone = dno_namespace, star_env.dns.zone
    host = f"www-{ns}.{zone}"
    # The CDN's edge name: in the test zone, so that the CA's CAA lookup, which follows the
    # CNAME (RFC 8659), gets an answer (a real CDN's name resolves too).
    edge = f"edge-{ns}.{zone}."
    mac = mac_key()
    delegation(kubectl, ns, "cdn-one", star_env.template, "cdn-one-key", mac,
               cnameMap={f"{host}.": edge},
               star={"maxLifetime": "1h", "maxDuration": "1d"})
    cond = wait_condition(kubectl, "delegation", "cdn-one", ns, status="True",
                          reason="AwaitingAccount", timeout=60)
    assert "cdn-one-key" in cond["status"]["conditions"][0]["message"]
    assert mac not in json.dumps(cond)

    ndc = Ndc(front_end.directory_url, front_end.ca_pem)
    assert ndc.directory["meta"]["delegation-enabled"] is True
    assert ndc.directory["meta"]["externalAccountRequired"] is True
    created = ndc.register("cdn-one-key", mac)
    assert created.status == 201, created.text
    account = created.body
    assert account["status"] == "valid"
    assert account["delegations"] == ndc.kid + "/delegations"
    again = ndc.register("cdn-one-key", mac)  # same key: the same account, not a second one
    assert again.status == 200 and again.headers["Location"] == ndc.kid
    bound = get(kubectl, "delegation", "cdn-one", ns)["status"]["account"]
    assert bound["url"] == ndc.kid and bound["keyID"] == "cdn-one-key"

    listing = ndc.post(account["delegations"])
    assert listing.status == 200
    (delegation_url,) = listing.body["delegations"]
    assert delegation_url == f"{front_end.base_url}/acme/delegation/cdn-one"
    obj = ndc.post(delegation_url).body
    template_spec = get(kubectl, "csrtemplate", star_env.template)["spec"]["template"]
    assert obj["csr-template"] == load_template(template_spec).to_dict()
    assert obj["cname-map"] == {f"{host}.": edge}

    auto = {"end-date": rfc3339(3600), "lifetime": 6, "allow-certificate-get": True}
    new = ndc.post(ndc.directory["newOrder"], {
        "identifiers": [{"type": "dns", "value": host}], "auto-renewal": auto,
        "delegation": delegation_url})
    assert new.status == 201, new.text
    order_url = new.headers["Location"]
    assert new.body["status"] == "ready" and new.body["authorizations"] == []
    assert new.body["delegation"] == delegation_url
    assert new.body["finalize"] == order_url + "/finalize"
    assert "notBefore" not in new.body and "notAfter" not in new.body

    front_end.kill()  # a crash between newOrder and finalize: Order1 is in the Delegation
    front_end.start()
    ndc.nonce = None
    assert ndc.post(order_url).body["status"] == "ready"
    key, csr_pem = cdn_request(star_env, [host])
    fin = ndc.post(new.body["finalize"], {"csr": der_b64(csr_pem)})
    assert fin.status == 200, fin.text
    assert fin.body["status"] == "processing"
    order_id = order_url.rsplit("/", 1)[1]
    so = get(kubectl, "starorder", f"cdn-one-{order_id}", ns)
    meta = so["metadata"]
    assert meta["labels"][f"{GROUP}/delegation"] == "cdn-one"
    assert meta["annotations"][f"{GROUP}/ndc-account"] == ndc.kid
    assert meta["annotations"][f"{GROUP}/ndc-order"] == order_url
    (owner,) = meta["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["blockOwnerDeletion"]) == \
        ("Delegation", "cdn-one", True)
    assert so["spec"]["csr"].strip() == csr_pem.strip() and so["spec"]["dnsNames"] == [host]
    assert (so["spec"]["lifetime"], so["spec"]["endDate"]) == ("6s", auto["end-date"])

    def valid() -> dict | None:
        body = ndc.post(order_url).body
        return body if body["status"] == "valid" else None
    order = wait_for(valid, 90, "Order1 valid")
    star_url = order["star-certificate"]
    assert star_url.startswith(star_env.ca.directory_url.rsplit("/", 1)[0])  # the CA's own
    code, leaf = star_get(star_env, star_url)
    assert code == 200 and spki(leaf) == spki(key)

    # restart: nothing lost (account, order, URL), nothing repeated (one StarOrder, one order)
    front_end.kill()
    front_end.start()
    ndc.nonce = None
    assert ndc.post(order_url).body["star-certificate"] == star_url
    assert ndc.post(new.body["finalize"], {"csr": der_b64(csr_pem)}).body["status"] == "valid"
    assert ndc.register("cdn-one-key", mac).headers["Location"] == ndc.kid
    items = kubectl.get_json("starorders", "-n", ns, "-l", f"{GROUP}/delegation=cdn-one")
    assert len(items["items"]) == 1
    assert [s for _, s in ca_orders(star_env.ca, host)] == ["valid"]

    canceled = ndc.post(order_url, {"status": "canceled"})
    assert canceled.status == 200 and canceled.body["status"] == "canceled"
    assert get(kubectl, "starorder", f"cdn-one-{order_id}", ns)["spec"]["canceled"] is True
    wait_for(lambda: star_get(star_env, star_url)[0] == 403, 60, "CA refuses (canceled)")
    assert [s for _, s in ca_orders(star_env.ca, host)] == ["canceled"]


def _order_and_finalize(ndc: Ndc, env: StarEnv, delegation_url: str, host: str,
                        star: dict | None) -> tuple[str, object]:
    extra = {"auto-renewal": star} if star else {"allow-certificate-get": True}
    new = ndc.post(ndc.directory["newOrder"], {
        "identifiers": [{"type": "dns", "value": host}], "delegation": delegation_url,
        **extra})
    assert new.status == 201, new.text
    key, csr_pem = cdn_request(env, [host])
    fin = ndc.post(new.body["finalize"], {"csr": der_b64(csr_pem)})
    assert fin.status == 200, fin.text
    return new.headers["Location"], key


def test_ordinary_delegation_and_the_dno_deleting_the_delegation(
        kubectl: Kubectl, star_env: StarEnv, dno_namespace: str,
        front_end: LocalFrontEnd) -> None:
    """RFC 9115 §2.3.3: no auto-renewal, one certificate at the front end's own URL; then the
    DNO deletes the Delegation and its StarOrders go (garbage collection), revoking."""
    ns, mac = dno_namespace, mac_key()
    host = f"plain-{ns}.{star_env.dns.zone}"
    alias = f"alias-{ns}.{star_env.dns.zone}"
    delegation(kubectl, ns, "cdn-plain", star_env.template, "cdn-plain-key", mac,
               cnameMap={f"{alias}.": "edge.cdn.example."},
               star={"allowOrdinary": True, "maxLifetime": "1h"})
    wait_for(lambda: star_env.dns.query(alias, "CNAME") == ["edge.cdn.example."], 30,
             "the cname-map record in BIND")
    ndc = Ndc(front_end.directory_url, front_end.ca_pem)
    assert ndc.register("cdn-plain-key", mac).status == 201
    url = f"{front_end.base_url}/acme/delegation/cdn-plain"
    order_url, key = _order_and_finalize(ndc, star_env, url, host, None)
    order = wait_valid(ndc, order_url)
    assert order["allow-certificate-get"] is True and "auto-renewal" not in order
    assert "star-certificate" not in order
    assert order["certificate"].startswith(front_end.base_url + "/acme/cert/cdn-plain/")
    code, leaf = star_get(type("E", (), {"root_pem": front_end.ca_pem})(), order["certificate"])
    assert code == 200 and spki(leaf) == spki(key)
    refused = ndc.post(order_url, {"status": "canceled"})  # not STAR: the DNO revokes instead
    assert refused.problem_type == "autoRenewalCancellationInvalid"

    name = f"cdn-plain-{order_url.rsplit('/', 1)[1]}"
    kubectl.run("delete", "delegation", "cdn-plain", "-n", ns)
    def ended() -> bool:
        so = get(kubectl, "starorder", name, ns)
        return so is None or (so.get("status") or {}).get("phase") == "Canceled"
    wait_for(ended, 30, "the StarOrder ended with its Delegation")
    serial = format(leaf.serial_number, "x")
    wait_for(lambda: ca_revocations(star_env.ca).get(serial) is not None, 30,
             "the ordinary certificate revoked at the CA")
    wait_for(lambda: star_env.dns.query(alias, "CNAME") == [], 30,
             "the cname-map record gone from BIND")
    gone = ndc.post(order_url)
    assert gone.status in (403, 400)  # no delegation, no order: the account lost its grant


def test_emulated_series_served_by_the_front_end(
        kubectl: Kubectl, public_env: StarEnv, dno_namespace: str,
        front_end: LocalFrontEnd) -> None:
    """Upstream CA without STAR: Order1's star-certificate is the front end's own URL, with
    RFC 8739 semantics, backed by the series the operator keeps ordering; the DNO deleting the
    Delegation makes it 403 autoRenewalCanceled, also once the StarOrder is gone."""
    ns, mac = dno_namespace, mac_key()
    host = f"emu-{ns}.{public_env.dns.zone}"
    delegation(kubectl, ns, "cdn-emu", public_env.template, "cdn-emu-key", mac,
               star={"maxLifetime": "1h"})
    ndc = Ndc(front_end.directory_url, front_end.ca_pem)
    assert ndc.register("cdn-emu-key", mac).status == 201
    url = f"{front_end.base_url}/acme/delegation/cdn-emu"
    star = {"end-date": rfc3339(3600), "lifetime": SHORT, "allow-certificate-get": True}
    order_url, key = _order_and_finalize(ndc, public_env, url, host, star)
    order = wait_valid(ndc, order_url)
    star_url = order["star-certificate"]
    assert star_url.startswith(front_end.base_url + "/acme/star/cdn-emu/")
    trust = type("E", (), {"root_pem": front_end.ca_pem})()
    code, leaf = star_get(trust, star_url)  # unauthenticated GET, as the CDN does
    assert code == 200 and spki(leaf) == spki(key)
    ndc.nonce = None
    answer = ndc.get(star_url)
    not_after = parsedate_to_datetime(answer.headers["Cert-Not-After"])
    assert abs(not_after - leaf.not_valid_after_utc).total_seconds() < 1
    assert "Cert-Not-Before" in answer.headers
    assert answer.headers["Cache-Control"].startswith("public, max-age=")
    assert int(answer.headers["Cache-Control"].rsplit("=", 1)[1]) <= SHORT

    name = f"cdn-emu-{order_url.rsplit('/', 1)[1]}"
    kubectl.run("delete", "delegation", "cdn-emu", "-n", ns, "--wait=false")
    refused = wait_for(lambda: (lambda a: a if a.status == 403 else None)(ndc.get(star_url)),
                       30, "the front end's star-certificate refusing after the delete")
    assert refused.problem_type == "autoRenewalCanceled"
    wait_for(lambda: get(kubectl, "starorder", name, ns) is None, 60, "the StarOrder gone")
    gone = ndc.get(star_url)  # nothing left behind it: still the answer a client stops on
    assert (gone.status, gone.problem_type) == (403, "autoRenewalCanceled")
    serial = format(leaf.serial_number, "x")
    assert ca_revocations(public_env.ca).get(serial) is not None  # revoked on the way out


@pytest.fixture(scope="module")
def grants(kubectl: Kubectl, star_env: StarEnv, dno_namespace: str) -> dict[str, str]:
    """Four CDNs (a fresh pair of accounts for each test), each with its own Delegation and
    MAC key; and one Delegation whose Secret is missing."""
    macs = {who: mac_key() for who in "abcd"}
    for who, mac in macs.items():
        delegation(kubectl, dno_namespace, f"cdn-{who}", star_env.template, f"key-{who}", mac,
                   star={"maxLifetime": "1h"})
    kubectl.apply({"apiVersion": "star.operator.dev/v1alpha1", "kind": "Delegation",
                   "metadata": {"name": "no-secret", "namespace": dno_namespace},
                   "spec": {"csrTemplateName": star_env.template, "externalAccountBinding": {
                       "keyID": "key-none", "hmacKeySecretRef": {"name": "absent"}}}})
    for who in macs:
        wait_condition(kubectl, "delegation", f"cdn-{who}", dno_namespace, status="True",
                       timeout=60)
    return macs


def order_payload(env: StarEnv, ns: str, fe: LocalFrontEnd, who: str, **extra: Any
                  ) -> dict[str, Any]:
    return {"identifiers": [{"type": "dns", "value": f"{who}-{ns}.{env.dns.zone}"}],
            "auto-renewal": {"end-date": rfc3339(3600), "lifetime": 60,
                             "allow-certificate-get": True},
            "delegation": f"{fe.base_url}/acme/delegation/cdn-{who}", **extra}


def test_accounts_need_a_valid_binding(kubectl: Kubectl, dno_namespace: str,
                                       front_end: LocalFrontEnd, grants: dict[str, str]) -> None:
    ndc = Ndc(front_end.directory_url, front_end.ca_pem)
    url = ndc.directory["newAccount"]
    none = ndc.post(url, {"termsOfServiceAgreed": True}, use_jwk=True)
    assert (none.status, none.problem_type) == (403, "externalAccountRequired")
    wrong = ndc.register("key-a", mac_key())
    assert (wrong.status, wrong.problem_type) == (403, "unauthorized")
    assert "MAC does not verify" in wrong.body["detail"]
    unknown = ndc.register("key-zzz", grants["a"])
    assert (unknown.status, unknown.problem_type) == (403, "unauthorized")
    missing_secret = ndc.register("key-none", mac_key())
    assert (missing_secret.status, missing_secret.problem_type) == (403, "unauthorized")
    other_key = Ndc(front_end.directory_url, front_end.ca_pem)  # EAB over someone else's key
    stolen = ndc.post(url, {"externalAccountBinding": ndc.eab("key-a", grants["a"],
                                                              key=other_key.key)}, use_jwk=True)
    assert (stolen.status, stolen.problem_type) == (400, "malformed")
    wrong_url = ndc.eab("key-a", grants["a"])
    header = json.loads(base64.urlsafe_b64decode(wrong_url["protected"] + "=="))
    assert header == {"alg": "HS256", "kid": "key-a", "url": url}  # RFC 8555 §7.3.4 shape
    assert get(kubectl, "delegation", "cdn-a", dno_namespace).get(
        "status", {}).get("account") is None  # nothing was bound by any of these

    first = ndc.register("key-a", grants["a"])
    assert first.status == 201, first.text
    second = Ndc(front_end.directory_url, front_end.ca_pem).register("key-a", grants["a"])
    assert (second.status, second.problem_type) == (403, "unauthorized")
    assert "already bound" in second.body["detail"]
    cond = wait_condition(kubectl, "delegation", "no-secret", dno_namespace, status="False",
                          reason="SecretNotFound", timeout=60)
    assert "absent" in cond["status"]["conditions"][0]["message"]


def test_forged_and_replayed_requests(front_end: LocalFrontEnd, grants: dict[str, str]) -> None:
    ndc = Ndc(front_end.directory_url, front_end.ca_pem)
    assert ndc.register("key-b", grants["b"]).status in (200, 201)
    nonce = ndc.fresh_nonce()
    first = ndc.post(ndc.kid, None, nonce=nonce)
    assert first.status == 200
    replay = ndc.post(ndc.kid, None, nonce=nonce)
    assert (replay.status, replay.problem_type) == (400, "badNonce")
    forged = ndc.signed(ndc.kid, None)
    forged["payload"] = base64.urlsafe_b64encode(b'{"status":"deactivated"}').decode().rstrip(
        "=")
    answer = ndc.post_raw(ndc.kid, forged)
    assert (answer.status, answer.problem_type) == (400, "malformed")
    assert "signature" in answer.body["detail"]
    elsewhere = ndc.post_raw(ndc.kid, ndc.signed(ndc.directory["newOrder"], None))
    assert (elsewhere.status, elsewhere.problem_type) == (403, "unauthorized")
    stranger = Ndc(front_end.directory_url, front_end.ca_pem)
    stranger.kid = ndc.kid.rsplit("/", 1)[0] + "/not-an-account"
    lost = stranger.post(ndc.directory["newOrder"], {})
    assert (lost.status, lost.problem_type) == (400, "accountDoesNotExist")
    hs = ndc.post_raw(ndc.kid, ndc.eab("key-b", grants["b"]))  # a MAC is no account signature
    assert (hs.status, hs.problem_type) == (400, "badSignatureAlgorithm")
    plain = ndc.post_raw(ndc.kid, ndc.signed(ndc.kid, None), content_type="application/json")
    assert plain.status == 415
    assert ndc.post(ndc.kid).body["status"] == "valid"  # the forged deactivation did nothing


def _csr(key: Any, names: list[str], *, country: str | None = None) -> str:
    subject = [x509.NameAttribute(NameOID.COMMON_NAME, names[0])]
    if country:
        subject.append(x509.NameAttribute(NameOID.COUNTRY_NAME, country))
    csr = (x509.CertificateSigningRequestBuilder().subject_name(x509.Name(subject))
           .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
           .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False,
                                        False), True)
           .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
           .sign(key, hashes.SHA256()))
    der = csr.public_bytes(serialization.Encoding.DER)
    return base64.urlsafe_b64encode(der).decode().rstrip("=")


def test_delegations_orders_and_csrs_outside_the_grant(
        kubectl: Kubectl, star_env: StarEnv, dno_namespace: str, front_end: LocalFrontEnd,
        grants: dict[str, str]) -> None:
    ns = dno_namespace
    a, b = (Ndc(front_end.directory_url, front_end.ca_pem) for _ in "ab")
    assert a.register("key-c", grants["c"]).status == 201
    assert b.register("key-d", grants["d"]).status == 201
    new_order = a.directory["newOrder"]

    theirs = b.post(new_order, order_payload(star_env, ns, front_end, "c"))
    assert (theirs.status, theirs.problem_type) == (403, "unknownDelegation")
    peek = b.post(f"{front_end.base_url}/acme/delegation/cdn-c")
    assert (peek.status, peek.problem_type) == (403, "unknownDelegation")
    assert b.post(b.kid + "/delegations").body["delegations"] == [
        f"{front_end.base_url}/acme/delegation/cdn-d"]

    outside = a.post(new_order, order_payload(star_env, ns, front_end, "c", identifiers=[
        {"type": "dns", "value": "www.elsewhere.test"}]))
    assert (outside.status, outside.problem_type) == (403, "rejectedIdentifier")
    assert outside.body["subproblems"][0]["identifier"] == {"type": "dns",
                                                            "value": "www.elsewhere.test"}
    long_life = order_payload(star_env, ns, front_end, "c")
    long_life["auto-renewal"]["lifetime"] = 7200  # the Delegation allows 1h
    too_long = a.post(new_order, long_life)
    assert (too_long.status, too_long.problem_type) == (400, "malformed")
    assert "maximum 3600" in too_long.body["detail"]
    ordinary = a.post(new_order, {**{k: v for k, v in order_payload(
        star_env, ns, front_end, "c").items() if k != "auto-renewal"},
        "allow-certificate-get": True})
    assert (ordinary.status, ordinary.problem_type) == (403, "unauthorized")

    made = a.post(new_order, order_payload(star_env, ns, front_end, "c"))
    assert made.status == 201
    order_url = made.headers["Location"]
    assert b.post(order_url).status == 403  # another NDC's order
    host = made.body["identifiers"][0]["value"]
    key = ec.generate_private_key(ec.SECP256R1())
    bad = a.post(made.body["finalize"], {"csr": _csr(key, [host], country="XX")})
    assert (bad.status, bad.problem_type) == (403, "badCSR")
    fields = {sp.get("field") for sp in bad.body["subproblems"]}
    assert "subject.country" in fields
    extra = a.post(made.body["finalize"], {"csr": _csr(key, [host, f"x-{host}"])})
    assert (extra.status, extra.problem_type) == (403, "rejectedIdentifier")
    assert {sp["identifier"]["value"] for sp in extra.body["subproblems"]
            if "identifier" in sp} == {f"x-{host}"}
    junk = a.post(made.body["finalize"], {"csr": "bm90IGEgY3Ny"})
    assert (junk.status, junk.problem_type) == (400, "badCSR")
    assert kubectl.get_json("starorders", "-n", ns, "-l", "star.operator.dev/delegation=cdn-c"
                            )["items"] == []  # nothing refused reached the DNO's ordering
    assert a.post(order_url).body["status"] == "ready"  # the NDC may still finalize properly

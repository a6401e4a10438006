"""The front end against the real control plane, operator, BIND 9 and star-ca, spoken to over
HTTPS by an NDC built from josepy/acme primitives: EAB account, delegation discovery, Order1,
finalize, the StarOrder of the contract, Order1 valid with the CA's star-certificate, a restart
that loses nothing and repeats nothing, and cancellation ending the series at the CA."""
from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from front_end_fixtures import (  # noqa: F401
    crds, delegation, dno_namespace, front_end, mac_key, operator_process, star_ca, star_env)
from ndc_client import Ndc
from tests.integration.operator.op_delegated import cdn_request, spki, star_get
from tests.integration.operator.op_env import StarEnv, ca_orders, get, wait_condition
from tests.waiting import wait_for

from star_devenv.front_end import LocalFrontEnd
from star_devenv.kubectl import Kubectl
from star_operator.csr_template import load_template

pytestmark = [pytest.mark.cluster, pytest.mark.dns]
GROUP = "star.operator.dev"


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
    mac = mac_key()
    delegation(kubectl, ns, "cdn-one", star_env.template, "cdn-one-key", mac,
               cnameMap={f"{host}.": "edge.cdn.example."},
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
    assert obj["cname-map"] == {f"{host}.": "edge.cdn.example."}

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

"""CAA (RFC 8659 + RFC 8657) against the real BIND 9: checked at finalize, and re-checked
before every STAR renewal (a DNO stops a series through DNS), with answers relied on within
their TTL (star_ca.va.caa) and not after."""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from ca_testclient import Client, make_csr, unique, wait

from star_ca.star.autorenewal import rfc3339

ERR = "urn:ietf:params:acme:error:"


def _finalize(client: Client, names: list[str], present: Any, kind: str = "dns-01",
              auto_renewal: dict[str, Any] | None = None) -> Any:
    r = client.new_order(names, auto_renewal)
    assert r.status_code == 201, r.text
    order_url = r.headers["Location"]
    client.authorize(r.json(), kind, present)
    wait(lambda: client.get(order_url)["status"] == "ready", what="order ready")
    return order_url, client.finalize(order_url, make_csr(names)[0])


def _order_error(client: Client, order_url: str) -> str:
    order = client.get(order_url)
    assert order["status"] == "invalid"
    return str(order["error"]["type"])


CASES: list[tuple[str, Callable[[Client], list[str]], bool]] = [
    ("other CA", lambda c: ['0 issue "other-ca.test"'], False),
    ("this CA", lambda c: ['0 issue "star-ca.test"', '0 issue "other-ca.test"'], True),
    ("forbid all", lambda c: ['0 issue ";"'], False),
    ("other accounturi",
     lambda c: ['0 issue "star-ca.test; accounturi=https://127.0.0.1/acme/acct/nobody"'], False),
    ("own accounturi", lambda c: [f'0 issue "star-ca.test; accounturi={c.kid}"'], True),
    ("validationmethods excluding dns-01",
     lambda c: ['0 issue "star-ca.test; validationmethods=http-01"'], False),
    ("validationmethods with dns-01",
     lambda c: ['0 issue "star-ca.test; validationmethods=http-01,dns-01"'], True),
    ("unknown critical tag", lambda c: ['0 issue "star-ca.test"', '128 tbs "x"'], False),
    ("unknown non-critical tag", lambda c: ['0 issue "star-ca.test"', '0 tbs "x"'], True),
]


@pytest.mark.parametrize("what, records, allowed", CASES, ids=[c[0] for c in CASES])
def test_caa_at_finalize(client: Client, dns_server: Any, dns01_present: Any, what: str,
                         records: Callable[[Client], list[str]], allowed: bool) -> None:
    parent = unique("caa")
    name = f"www.{parent}"  # the relevant RRset is found by climbing to the parent
    dns_server.set_caa(parent, records(client))
    order_url, r = _finalize(client, [name], dns01_present)
    if allowed:
        assert r.status_code == 200, r.text
        return
    assert r.status_code == 403, r.text
    doc = r.json()
    assert doc["type"] == ERR + "caa"
    assert doc["subproblems"][0]["identifier"]["value"] == name
    order = client.get(order_url)
    assert order["status"] == "invalid" and order["error"]["type"] == ERR + "caa"


def test_caa_http01_blocked_by_validationmethods(client: Client, dns_server: Any, host: Any,
                                                 http01_present: Any) -> None:
    """The CDN cannot get its own certificate via http-01 when the DNO pins dns-01."""
    name = host("cdn")
    dns_server.set_caa(name, ['0 issue "star-ca.test; validationmethods=dns-01"'])
    _, r = _finalize(client, [name], http01_present, kind="http-01")
    assert r.status_code == 403 and r.json()["type"] == ERR + "caa"


def test_issuewild(client: Client, dns_server: Any, dns01_present: Any) -> None:
    base = unique("wild")
    dns_server.set_caa(base, ['0 issue "star-ca.test"', '0 issuewild ";"'])
    _, r = _finalize(client, [f"*.{base}"], dns01_present)
    assert r.status_code == 403 and r.json()["type"] == ERR + "caa"
    _, r = _finalize(client, [base], dns01_present)
    assert r.status_code == 200, r.text


def test_only_the_dno_account_with_dns01(new_client: Callable[..., Client], dns_server: Any,
                                         dns01_present: Any, http01_present: Any,
                                         host: Any) -> None:
    """RFC 9115 §7.4: CAA naming the DNO's account and dns-01 refuses the CDN's own account,
    by dns-01 and by http-01, while the DNO's account still gets its certificate."""
    dno, cdn = new_client(), new_client()
    name = host("dno")
    dns_server.set_caa(name, [f'0 issue "star-ca.test; accounturi={dno.kid}; '
                              f'validationmethods=dns-01"'])
    _, r = _finalize(dno, [name], dns01_present)
    assert r.status_code == 200, r.text
    for kind, present in (("dns-01", dns01_present), ("http-01", http01_present)):
        order_url, r = _finalize(cdn, [name], present, kind=kind)
        assert r.status_code == 403, r.text
        sub = r.json()["subproblems"][0]
        assert sub["type"] == ERR + "caa" and sub["identifier"]["value"] == name
        assert "accounturi" in sub["detail"], sub
        assert _order_error(cdn, order_url) == ERR + "caa"


def test_answer_relied_on_within_its_ttl(client: Client, dns_server: Any,
                                         dns01_present: Any) -> None:
    """A CAA answer with a 300 s TTL is not asked again for the next order within it: the CA
    still evaluates it (the record named this CA), and does not see the change yet."""
    name = unique("ttl")
    dns_server.set_caa(name, ['0 issue "star-ca.test"'], ttl=300)
    _, r = _finalize(client, [name], dns01_present)
    assert r.status_code == 200, r.text
    dns_server.set_caa(name, ['0 issue "other-ca.test"'], ttl=300)
    _, r = _finalize(client, [name], dns01_present)
    assert r.status_code == 200, r.text


def test_renewal_rechecks_caa(client: Client, dns_server: Any, dns01_present: Any) -> None:
    """The change is obeyed once the old answer's TTL (1 s) has run out."""
    name = unique("recheck")
    dns_server.set_caa(name, ['0 issue "star-ca.test"'], ttl=1)
    ar = {"end-date": rfc3339(time.time() + 60), "lifetime": 2, "allow-certificate-get": True}
    order_url, r = _finalize(client, [name], dns01_present, auto_renewal=ar)
    assert r.status_code == 200, r.text
    url = r.json()["star-certificate"]
    assert client.http.get(url).status_code == 200
    dns_server.set_caa(name, ['0 issue "other-ca.test"'], ttl=1)
    order = wait(lambda: (o := client.get(order_url))["status"] == "invalid" and o,
                 timeout=15, what="series stopped by CAA")
    assert order["error"]["type"] == ERR + "caa"
    assert order["error"]["subproblems"][0]["identifier"]["value"] == name
    stopped = client.http.get(url)
    assert stopped.status_code == 403 and stopped.json()["type"] == ERR + "caa"

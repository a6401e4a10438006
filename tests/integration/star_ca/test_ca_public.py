"""star-ca playing a public CA, over real HTTPS: ACME profiles (draft-ietf-acme-profiles) that
fix the validity of ordinary certificates, ACME Renewal Information (RFC 9773: the suggested
window, Retry-After, ``replaces`` and alreadyReplaced, the past window of a revoked
certificate), and ``--no-star``, which makes the CA an RFC 8555 CA that ignores auto-renewal."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import josepy as jose
import pytest
from acme.client import _renewal_info_path_component
from ca_testclient import Client, make_csr
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from star_ca.ari import cert_id
from star_ca.star.autorenewal import parse_rfc3339, rfc3339
from star_devenv.ca import LocalCA

ERR = "urn:ietf:params:acme:error:"
DAY = 86400
CLASSIC = 90 * DAY


@pytest.fixture(scope="module")
def ca(dns_server: Any, http01: Any) -> Iterator[LocalCA]:
    with LocalCA(dns_server=dns_server.server, http01_port=http01.port, max_duration=3600,
                 profiles={"short": 6, "classic": CLASSIC},
                 default_profile="classic") as local_ca:
        yield local_ca


@pytest.fixture(scope="module")
def rfc8555_ca(dns_server: Any, http01: Any) -> Iterator[LocalCA]:
    with LocalCA(dns_server=dns_server.server, http01_port=http01.port, star=False,
                 ari=False) as local_ca:
        yield local_ca


def ari_cert_id(cert: x509.Certificate) -> str:
    """The RFC 9773 certID of ``cert`` as certbot's acme computes it from the certificate's
    AuthorityKeyIdentifier and serial (independently of the CA's own code)."""
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier, "leaf certificates must carry an AKI keyIdentifier"
    return _renewal_info_path_component(cert)


def issue(client: Client, names: list[str], present: Any,
          **extra: Any) -> tuple[dict[str, Any], x509.Certificate]:
    """An ordinary certificate for ``names`` (http-01): (the valid order, the leaf)."""
    order_url, _ = client.ready_order(names, "http-01", present, **extra)
    fin = client.finalize(order_url, make_csr(names)[0])
    assert fin.status_code == 200, fin.text
    order = fin.json()
    pem = client.post(order["certificate"]).content
    return order, x509.load_pem_x509_certificates(pem)[0]


def lifetime(cert: x509.Certificate) -> float:
    return (cert.not_valid_after_utc - cert.not_valid_before_utc).total_seconds()


def renewal_info(client: Client, cid: str) -> Any:
    """Unauthenticated GET of the renewalInfo resource, as RFC 9773 §4 has it."""
    return client.http.get(f"{client.directory['renewalInfo']}/{cid}", timeout=10)


def test_directory_offers_profiles_and_ari(ca: LocalCA, client: Client) -> None:
    d = client.directory
    assert d["renewalInfo"] == f"{ca.base_url}/acme/renewal-info"
    profiles = d["meta"]["profiles"]
    assert list(profiles) == ["short", "classic"]
    assert "6 seconds" in profiles["short"] and "90 days" in profiles["classic"]
    assert "auto-renewal" in d["meta"]  # STAR stays on unless --no-star


def test_unknown_profile_is_refused(client: Client, host: Callable[[str], str]) -> None:
    r = client.new_order([host("p")], profile="tlsserver")
    assert r.status_code == 400 and r.json()["type"] == ERR + "invalidProfile"
    assert "short" in r.json()["detail"] and "classic" in r.json()["detail"]
    r = client.new_order([host("p")], profile=6)
    assert r.status_code == 400 and r.json()["type"] == ERR + "malformed"


def test_profile_fixes_the_validity(client: Client, host: Callable[[str], str],
                                    http01_present: Any) -> None:
    order, leaf = issue(client, [host("short")], http01_present, profile="short")
    assert order["profile"] == "short" and lifetime(leaf) == 6
    order, leaf = issue(client, [host("default")], http01_present)
    assert order["profile"] == "classic" and lifetime(leaf) == CLASSIC


def test_renewal_info_window_and_retry_after(client: Client, host: Callable[[str], str],
                                             http01_present: Any) -> None:
    for profile, seconds, retry in (("short", 6, "1"), ("classic", CLASSIC, "21600")):
        _, leaf = issue(client, [host(profile)], http01_present, profile=profile)
        r = renewal_info(client, ari_cert_id(leaf))
        assert r.status_code == 200, r.text
        assert r.headers["Retry-After"] == retry
        nb = int(leaf.not_valid_before_utc.timestamp())
        window = r.json()["suggestedWindow"]
        assert window == {"start": rfc3339(nb + seconds * 2 // 3),
                          "end": rfc3339(nb + seconds * 5 // 6)}, profile


def test_renewal_info_errors(client: Client, host: Callable[[str], str],
                             http01_present: Any) -> None:
    _, leaf = issue(client, [host("e")], http01_present, profile="short")
    aki_part, _ = ari_cert_id(leaf).split(".")
    unknown_serial = renewal_info(client, f"{aki_part}.AQ")
    assert unknown_serial.status_code == 404
    assert unknown_serial.json()["type"] == ERR + "malformed"
    foreign_issuer = cert_id(b"\x01" * 20, leaf.serial_number)
    assert renewal_info(client, foreign_issuer).status_code == 404
    for junk in ("nodot", f"{aki_part}.AQ=", f"{aki_part}.AAE"):
        r = renewal_info(client, junk)
        assert r.status_code == 400 and r.json()["type"] == ERR + "malformed", junk


def test_replaces_and_already_replaced(client: Client, host: Callable[[str], str],
                                       http01_present: Any) -> None:
    name = host("rep")
    _, leaf = issue(client, [name], http01_present, profile="short")
    cid = ari_cert_id(leaf)
    first = client.new_order([name, host("extra")], replaces=cid)  # one shared name suffices
    assert first.status_code == 201, first.text
    assert first.json()["replaces"] == cid
    again = client.new_order([name], replaces=cid)
    assert again.status_code == 409 and again.json()["type"] == ERR + "alreadyReplaced"
    # an order that failed replaces nothing: deactivating its authorization frees the cert
    authz = first.json()["authorizations"][0]
    assert client.post(authz, {"status": "deactivated"}).status_code == 200
    assert client.get(first.headers["Location"])["status"] == "invalid"
    retry = client.new_order([name], replaces=cid)
    assert retry.status_code == 201, retry.text
    assert client.new_order([name], replaces=cid).status_code == 409


def test_replaces_refusals(client: Client, new_client: Callable[..., Client],
                           host: Callable[[str], str], http01_present: Any) -> None:
    name = host("ref")
    _, leaf = issue(client, [name], http01_present)
    cid = ari_cert_id(leaf)
    aki_part = cid.split(".")[0]
    cases = {
        "unknown certificate": (client, [name], f"{aki_part}.AQ"),
        "another account's": (new_client(), [name], cid),
        "no shared identifier": (client, [host("other")], cid),
        "not a certID": (client, [name], "garbage"),
    }
    for what, (who, names, replaces) in cases.items():
        r = who.new_order(names, replaces=replaces)
        assert r.status_code == 400 and r.json()["type"] == ERR + "malformed", (what, r.text)
    assert client.new_order([name], replaces=cid).status_code == 201  # none of them counted


def test_revoked_certificate_is_due_now(client: Client, host: Callable[[str], str],
                                        http01_present: Any) -> None:
    _, leaf = issue(client, [host("rev")], http01_present)
    cid = ari_cert_id(leaf)
    before = renewal_info(client, cid).json()["suggestedWindow"]
    assert parse_rfc3339(before["start"], "start") > time.time() + 59 * DAY
    der = jose.encode_b64jose(leaf.public_bytes(serialization.Encoding.DER))
    revoke = client.post(client.directory["revokeCert"], {"certificate": der, "reason": 5})
    assert revoke.status_code == 200, revoke.text
    asked = int(time.time())
    r = renewal_info(client, cid)
    assert r.status_code == 200 and int(r.headers["Retry-After"]) >= 1
    window = r.json()["suggestedWindow"]
    end = parse_rfc3339(window["end"], "end")
    assert asked <= end <= time.time()  # the window closes as it is served: renew at once
    assert parse_rfc3339(window["start"], "start") == end - 1
    again = client.post(client.directory["revokeCert"], {"certificate": der, "reason": 5})
    assert again.status_code == 400 and again.json()["type"] == ERR + "alreadyRevoked"


def test_no_star_is_an_rfc8555_ca(rfc8555_ca: LocalCA, http01_present: Any,
                                  host: Callable[[str], str]) -> None:
    client = Client(rfc8555_ca.directory_url, str(rfc8555_ca.root_pem_path))
    assert client.register().status_code == 201
    d = client.directory
    assert "auto-renewal" not in d["meta"] and "profiles" not in d["meta"]
    assert "renewalInfo" not in d
    ar = {"end-date": rfc3339(time.time() + 600), "lifetime": 60}
    order, leaf = issue(client, [host("nostar")], http01_present, **{"auto-renewal": ar})
    assert "auto-renewal" not in order and "star-certificate" not in order
    assert order["status"] == "valid" and "certificate" in order
    assert lifetime(leaf) == CLASSIC  # no profiles: the CA's ordinary 90 days


def test_replacement_survives_a_restart(tmp_path: Path, dns_server: Any, http01: Any,
                                        http01_present: Any,
                                        host: Callable[[str], str]) -> None:
    with LocalCA(data_dir=tmp_path / "ca", dns_server=dns_server.server,
                 http01_port=http01.port, profiles={"short": 6}) as own_ca:
        client = Client(own_ca.directory_url, str(own_ca.root_pem_path))
        assert client.register().status_code == 201
        name = host("restart")
        _, leaf = issue(client, [name], http01_present)
        cid = ari_cert_id(leaf)
        replacing = client.new_order([name], replaces=cid)
        assert replacing.status_code == 201, replacing.text
        own_ca.kill()
        own_ca.start()
        assert client.get(replacing.headers["Location"])["replaces"] == cid
        again = client.new_order([name], replaces=cid)
        assert again.status_code == 409 and again.json()["type"] == ERR + "alreadyReplaced"
        assert renewal_info(client, cid).status_code == 200

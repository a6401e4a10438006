"""RFC 8739 STAR against the real CA: auto-renewal negotiation, renewals of a few seconds'
lifetime fetched over unauthenticated GET, headers, caching, cancellation, expiry, and the
STAR-specific errors."""
from __future__ import annotations

import calendar
import time
from email.utils import formatdate
from typing import Any

import josepy as jose
import pytest
import requests
from ca_testclient import Client, make_csr, unique, wait
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from star_ca.star.autorenewal import rfc3339
from star_ca.star.window import SeriesParams, window

ERR = "urn:ietf:params:acme:error:"


def star_order(client: Client, present: Any, lifetime: int, duration: int,
               **extra: Any) -> tuple[str, dict[str, Any], Any]:
    """A finalized STAR order (dns-01): (order URL, order, leaf private key)."""
    names = [unique("star")]
    ar = {"end-date": rfc3339(time.time() + duration), "lifetime": lifetime,
          "allow-certificate-get": True, **extra}
    order_url, _ = client.ready_order(names, "dns-01", present, ar)
    csr, key = make_csr(names)
    fin = client.finalize(order_url, csr)
    assert fin.status_code == 200, fin.text
    return order_url, fin.json(), key


def _leaf(resp: requests.Response) -> x509.Certificate:
    return x509.load_pem_x509_certificates(resp.content)[0]


def test_star_series_renews(ca: Any, client: Client, dns01_present: Any) -> None:
    lifetime = 4
    order_url, order, key = star_order(client, dns01_present, lifetime, 14)
    ar = order["auto-renewal"]
    assert ar["lifetime"] == lifetime and ar["allow-certificate-get"] is True
    assert ar["lifetime-adjust"] == 0
    assert order["status"] == "valid" and "certificate" not in order
    url = order["star-certificate"]
    assert len(jose.decode_b64jose(url.rsplit("/", 1)[1])) >= 16  # >= 128 bits
    root = x509.load_pem_x509_certificate(ca.root_pem_path.read_bytes())
    anon = requests.Session()
    anon.trust_env, anon.verify = False, str(ca.root_pem_path)

    seen: list[tuple[x509.Certificate, float]] = []

    def poll() -> bool:
        r = anon.get(url, timeout=10)
        assert r.status_code == 200, r.text
        now = time.time()
        leaf = _leaf(r)
        chain = x509.load_pem_x509_certificates(r.content)
        assert r.headers["Content-Type"] == "application/pem-certificate-chain"
        # a poller's GET is unauthenticated: no nonce minted for it (RFC 8555 §6.5 asks only
        # POST answers for one), so polling does not fill the CA's nonce store
        assert "Replay-Nonce" not in r.headers and 'rel="index"' in r.headers["Link"]
        assert r.headers["Cert-Not-Before"] == formatdate(
            leaf.not_valid_before_utc.timestamp(), usegmt=True)
        assert r.headers["Cert-Not-After"] == formatdate(
            leaf.not_valid_after_utc.timestamp(), usegmt=True)
        max_age = int(r.headers["Cache-Control"].split("max-age=")[1])
        assert max_age <= lifetime
        if not seen or seen[-1][0].serial_number != leaf.serial_number:
            leaf.verify_directly_issued_by(chain[1])
            chain[1].verify_directly_issued_by(root)
            assert leaf.public_key().public_numbers() == key.public_key().public_numbers()
            assert leaf.not_valid_before_utc.timestamp() <= now
            seen.append((leaf, now))
        return len(seen) >= 3

    wait(poll, timeout=20, what="three STAR certificates")
    first_nb = int(seen[0][0].not_valid_before_utc.timestamp())
    end = calendar.timegm(time.strptime(ar["end-date"], "%Y-%m-%dT%H:%M:%SZ"))
    params = SeriesParams(first_nrd=first_nb, start=first_nb, end=end, lifetime=lifetime)
    by_seq = {}
    for cert, _ in seen:
        nb, na = (int(cert.not_valid_before_utc.timestamp()),
                  int(cert.not_valid_after_utc.timestamp()))
        seq = next(i for i in range(20) if (w := window(params, i)) and w.not_before == nb)
        assert window(params, seq).not_after == na  # type: ignore[union-attr]
        by_seq[seq] = cert
    seqs = sorted(by_seq)
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), seqs  # consecutive
    for prev, nxt in zip(seqs, seqs[1:]):
        w_prev = window(params, prev)
        assert w_prev is not None
        halfway = w_prev.nominal + lifetime / 2
        assert by_seq[nxt].not_valid_before_utc.timestamp() <= halfway
    # HEAD and POST-as-GET serve the same thing
    head = anon.head(url, timeout=10)
    assert head.status_code == 200 and head.headers["Cert-Not-After"]
    assert client.post(url).status_code == 200
    assert client.get(order_url)["status"] == "valid"


def test_cancel_and_star_errors(client: Client, new_client: Any, dns01_present: Any) -> None:
    order_url, order, _ = star_order(client, dns01_present, 600, 3000)
    url = order["star-certificate"]
    pem = client.post(url)
    assert pem.status_code == 200
    # an unauthenticated GET is answered from memory until the next renewal (minutes here):
    # the cancel below must drop that answer at once
    assert client.http.get(url).content == client.http.get(url).content == pem.content
    der = _leaf(pem).public_bytes(serialization.Encoding.DER)
    revoke = client.post(client.directory["revokeCert"], {"certificate": jose.encode_b64jose(der)})
    assert revoke.status_code == 403
    assert revoke.json()["type"] == ERR + "autoRenewalRevocationNotSupported"

    other = new_client()
    for r in (other.post(order_url), other.post(order_url, {"status": "canceled"}),
              other.post(url)):
        assert r.status_code == 403 and r.json()["type"] == ERR + "unauthorized"
    assert client.post(order_url, {"status": "bogus"}).json()["type"] == ERR + "malformed"

    canceled = client.post(order_url, {"status": "canceled"})
    assert canceled.status_code == 200, canceled.text
    assert canceled.json()["status"] == "canceled" and canceled.json()["expires"]
    for r in (client.post(url), client.http.get(url)):
        assert r.status_code == 403 and r.json()["type"] == ERR + "autoRenewalCanceled"
    again = client.post(order_url, {"status": "canceled"})
    assert again.status_code == 400
    assert again.json()["type"] == ERR + "autoRenewalCancellationInvalid"


def test_cancel_non_valid_order(client: Client) -> None:
    r = client.new_order([unique("p")], {"end-date": rfc3339(time.time() + 600),
                                         "lifetime": 60})
    cancel = client.post(r.headers["Location"], {"status": "canceled"})
    assert cancel.status_code == 400
    assert cancel.json()["type"] == ERR + "autoRenewalCancellationInvalid"


def test_expired_series(client: Client, dns01_present: Any) -> None:
    order_url, order, _ = star_order(client, dns01_present, 2, 3)
    url = order["star-certificate"]
    wait(lambda: client.http.get(url).status_code == 403, timeout=15, what="end-date")
    r = client.http.get(url)
    assert r.json()["type"] == ERR + "autoRenewalExpired"
    assert client.get(order_url)["status"] == "valid"


def test_get_needs_negotiation(client: Client, dns01_present: Any) -> None:
    _, order, _ = star_order(client, dns01_present, 600, 1200, **{"allow-certificate-get": False})
    assert "allow-certificate-get" not in order["auto-renewal"]
    url = order["star-certificate"]
    assert client.http.get(url).status_code == 403
    assert client.post(url).status_code == 200


@pytest.mark.parametrize("ar, detail", [
    ({"lifetime": 60}, "end-date"),
    ({"end-date": "+600"}, "lifetime"),
    ({"end-date": "+600", "lifetime": 0}, "min-lifetime"),
    ({"end-date": "+7200", "lifetime": 60}, "max-duration"),
    ({"end-date": "yesterday", "lifetime": 60}, "RFC 3339"),
    ({"end-date": "+600", "lifetime": "60"}, "integer"),
])
def test_auto_renewal_validation(client: Client, ar: dict[str, Any], detail: str) -> None:
    if str(ar.get("end-date", "")).startswith("+"):
        ar = {**ar, "end-date": rfc3339(time.time() + int(ar["end-date"][1:]))}
    r = client.new_order([unique("v")], ar)
    assert r.status_code == 400 and r.json()["type"] == ERR + "malformed"
    assert detail in r.json()["detail"]


def test_not_before_with_auto_renewal(client: Client) -> None:
    ar = {"end-date": rfc3339(time.time() + 600), "lifetime": 60}
    r = client.new_order([unique("nb")], ar, notBefore=rfc3339(time.time()))
    assert r.status_code == 400 and r.json()["type"] == ERR + "malformed"

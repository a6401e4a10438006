"""Pure logic of the dns-01 solver: names, TXT values, TSIG settings, zone from an SOA answer."""
from __future__ import annotations

import base64

import dns.message
import dns.name
import dns.rdata
import dns.tsig
import pytest

from star_operator.dns01 import Dns01Error, DnsFailure, Rfc2136Solver, challenge_record_name
from star_operator.dns01.names import normalize_algorithm, txt_rdata, txt_values
from star_operator.dns01.rfc2136 import _zone_from_response

SECRET = base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        ("example.test", "_acme-challenge.example.test"),
        ("*.example.test", "_acme-challenge.example.test"),
        ("www.example.test.", "_acme-challenge.www.example.test"),
        ("WWW.Example.Test", "_acme-challenge.WWW.Example.Test"),
        ("*.a.b.example.test", "_acme-challenge.a.b.example.test"),
        ("bücher.example", "_acme-challenge.xn--bcher-kva.example"),
    ],
)
def test_challenge_record_name(domain: str, expected: str) -> None:
    assert challenge_record_name(domain) == expected


@pytest.mark.parametrize(
    "domain", ["", "*", "*.", "test", "*.test", "a.*.example.test", "*.*.example.test",
               "x*.example.test", "a..example.test", ("a" * 64) + ".example.test",
               ".".join(["abcdefghi"] * 26) + ".test"],
)
def test_invalid_domains_are_rejected(domain: str) -> None:
    with pytest.raises(Dns01Error) as info:
        challenge_record_name(domain)
    assert info.value.reason is DnsFailure.UPDATE_FAILED
    assert repr(domain) in str(info.value)


def test_txt_rdata_round_trip_without_quoting_problems() -> None:
    value = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"
    rdata = txt_rdata(value)
    assert rdata.to_text() == f'"{value}"'
    assert txt_values([rdata]) == {value}
    # values split into several character-strings are joined
    split = dns.rdata.from_text("IN", "TXT", '"abc" "def"')
    assert txt_values([split, rdata]) == {"abcdef", value}


@pytest.mark.parametrize("value", ["", "x" * 256, "é"])
def test_txt_rdata_rejects_unusable_values(value: str) -> None:
    with pytest.raises(Dns01Error) as info:
        txt_rdata(value)
    assert info.value.reason is DnsFailure.UPDATE_FAILED


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hmac-sha256", dns.tsig.HMAC_SHA256),
        ("HMAC-SHA512", dns.tsig.HMAC_SHA512),
        ("hmac-sha256.", dns.tsig.HMAC_SHA256),
        ("hmac-md5", dns.tsig.HMAC_MD5),
        ("hmac-md5.sig-alg.reg.int", dns.tsig.HMAC_MD5),
    ],
)
def test_algorithm_names(text: str, expected: dns.name.Name) -> None:
    assert normalize_algorithm(text) == expected


@pytest.mark.parametrize("text", ["sha256", "gss-tsig", "", "hmac-sha256 extra"])
def test_unknown_algorithms_are_rejected(text: str) -> None:
    with pytest.raises(Dns01Error, match="unsupported TSIG algorithm") as info:
        normalize_algorithm(text)
    assert info.value.reason is DnsFailure.SETTINGS_INVALID


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"server": ""}, "no DNS server"),
        ({"tsig_key_name": ""}, "no TSIG key name"),
        ({"tsig_secret": "not base64!"}, "not valid base64"),
        ({"tsig_secret": ""}, "is empty"),
        ({"tsig_algorithm": "md4"}, "unsupported TSIG algorithm"),
        ({"zone": "a..example.test"}, "invalid zone"),
    ],
)
def test_solver_configuration_errors_name_the_problem(kwargs: dict, message: str) -> None:
    args = dict(server="127.0.0.1", port=53, tsig_key_name="k", tsig_secret=SECRET)
    args.update(kwargs)
    with pytest.raises(Dns01Error, match=message) as info:
        Rfc2136Solver(**args)
    assert info.value.reason is DnsFailure.SETTINGS_INVALID


def test_solver_repr_does_not_leak_the_secret() -> None:
    solver = Rfc2136Solver("127.0.0.1", 53, "k", SECRET, zone="example.test")
    assert SECRET not in repr(solver)
    assert "example.test" in repr(solver)


def _response(text: str) -> dns.message.Message:
    return dns.message.from_text(text)


def test_zone_from_soa_in_answer() -> None:
    msg = _response(
        "id 1\nopcode QUERY\nrcode NOERROR\nflags QR AA\n;QUESTION\nexample.test. IN SOA\n"
        ";ANSWER\nexample.test. 60 IN SOA ns1.example.test. h.example.test. 1 60 60 3600 60\n"
    )
    assert _zone_from_response(msg, dns.name.from_text("example.test")) == dns.name.from_text(
        "example.test"
    )


def test_zone_from_authoritative_nodata_and_nxdomain() -> None:
    for rcode in ("NOERROR", "NXDOMAIN"):
        msg = _response(
            f"id 1\nopcode QUERY\nrcode {rcode}\nflags QR AA\n;QUESTION\n"
            "_acme-challenge.www.example.test. IN SOA\n;AUTHORITY\n"
            "example.test. 60 IN SOA ns1.example.test. h.example.test. 1 60 60 3600 60\n"
        )
        qname = dns.name.from_text("_acme-challenge.www.example.test")
        assert _zone_from_response(msg, qname) == dns.name.from_text("example.test")


def test_no_zone_from_non_authoritative_or_unrelated_soa() -> None:
    qname = dns.name.from_text("www.example.test")
    not_aa = _response(
        "id 1\nopcode QUERY\nrcode NOERROR\nflags QR\n;QUESTION\nwww.example.test. IN SOA\n"
        ";AUTHORITY\nexample.test. 60 IN SOA ns1.example.test. h.example.test. 1 60 60 3600 60\n"
    )
    assert _zone_from_response(not_aa, qname) is None
    unrelated = _response(
        "id 1\nopcode QUERY\nrcode NOERROR\nflags QR AA\n;QUESTION\nwww.example.test. IN SOA\n"
        ";AUTHORITY\nother.test. 60 IN SOA ns1.other.test. h.other.test. 1 60 60 3600 60\n"
    )
    assert _zone_from_response(unrelated, qname) is None
    referral = _response(
        "id 1\nopcode QUERY\nrcode NOERROR\nflags QR\n;QUESTION\nwww.example.test. IN SOA\n"
        ";AUTHORITY\nwww.example.test. 60 IN NS ns.elsewhere.test.\n"
    )
    assert _zone_from_response(referral, qname) is None


def test_secret_whitespace_is_ignored() -> None:
    half = len(SECRET) // 2
    solver = Rfc2136Solver("127.0.0.1", 53, "k", f" {SECRET[:half]}\n {SECRET[half:]}\n")
    assert solver._key.secret == base64.b64decode(SECRET)

"""Pure logic of the front end: EAB checks, Order1 parsing and bounds, the StarOrder state
mapping, the StarOrder manifest, the Delegation's Ready verdict, and the command line."""
from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path
from typing import Any

import josepy as jose
import pytest
from acme import messages
from cryptography.hazmat.primitives.asymmetric import ec

from star_ca.problems import AcmeError
from star_operator.delegation import config, eab, orders
from star_operator.delegation.readiness import assess
from star_operator.ordering.templates import parse_template
from tests.unit.delegation.fake_cluster import merge
from tests.unit.delegation.test_rfc9115_interop import dno_cluster

NEW_ACCOUNT = "https://fe.example/acme/new-account"
MAC = base64.urlsafe_b64encode(b"m" * 32).decode().rstrip("=")
NOW = 1_900_000_000.0


def key() -> jose.JWK:
    return jose.JWKEC(key=ec.generate_private_key(ec.SECP256R1()))


def binding(account: jose.JWK, mac: str = MAC, url: str = NEW_ACCOUNT, **kw: Any) -> Any:
    return messages.ExternalAccountBinding.from_data(account.public_key(), "kid-1", mac,
                                                     {"newAccount": url}, **kw)


def test_eab_accepts_the_binding_certbots_library_makes() -> None:
    account = key()
    parsed = eab.parse(binding(account), NEW_ACCOUNT, account.public_key())
    assert parsed.key_id == "kid-1"
    assert eab.verify_mac(parsed, eab.decode_mac_key(MAC))
    assert not eab.verify_mac(parsed, b"x" * 32)


@pytest.mark.parametrize("case,kind", [
    ("missing", "externalAccountRequired"), ("not-object", "malformed"),
    ("other-url", "malformed"), ("other-key", "malformed"), ("es256", "malformed")])
def test_eab_refusals_have_the_rfc_8555_types(case: str, kind: str) -> None:
    account = key()
    value: Any = {"missing": None, "not-object": "x",
                  "other-url": binding(account, url="https://elsewhere/new-account"),
                  "other-key": binding(key())}.get(case)
    if case == "es256":  # an account-style signature where a MAC belongs
        from acme import jws as acme_jws
        value = acme_jws.JWS.sign(b"{}", key=account, alg=jose.ES256, nonce=None,
                                  url=NEW_ACCOUNT, kid="kid-1").to_partial_json()
    with pytest.raises(AcmeError) as err:
        eab.parse(value, NEW_ACCOUNT, account.public_key())
    assert err.value.type == kind


def test_mac_keys_must_be_long_enough() -> None:
    with pytest.raises(ValueError, match="at least 32"):
        eab.decode_mac_key(base64.urlsafe_b64encode(b"short").decode())


def _policy_and_delegation() -> tuple[Any, dict[str, Any]]:
    cluster = dno_cluster()
    template = cluster.objects[("CsrTemplate", "ido")]
    return parse_template(template, "dno"), cluster.objects[("Delegation", "gm0wfLYHBen")]


def _auto(**kw: Any) -> dict[str, Any]:
    end = dt.datetime.fromtimestamp(NOW + 86400 * 10, dt.timezone.utc)
    return {"end-date": end.strftime("%Y-%m-%dT%H:%M:%SZ"), "lifetime": 86400,
            "allow-certificate-get": True, **kw}


def _new_order(delegation: dict[str, Any], **payload: Any) -> dict[str, Any]:
    policy, _ = _policy_and_delegation()
    body = {"identifiers": [{"type": "dns", "value": "abc.ido.example"}], **payload}
    return orders.parse_new_order(body, orders.Bounds.of(delegation, policy), policy, NOW)


def test_order1_bounds_are_the_tighter_of_delegation_and_template() -> None:
    _, delegation = _policy_and_delegation()
    tight = merge(delegation, {"spec": {"star": {"maxLifetime": "2d", "maxDuration": "20d"}}})
    assert _new_order(tight, **{"auto-renewal": _auto()})["auto-renewal"]["lifetime"] == 86400
    for auto, text in ((_auto(lifetime=3 * 86400), "maximum 172800"),
                       (_auto(lifetime=60), "min-lifetime 3600"),
                       (_auto(**{"allow-certificate-get": False}), "must be true")):
        with pytest.raises(AcmeError, match=text):
            _new_order(tight, **{"auto-renewal": auto})
    shorter = merge(tight, {"spec": {"star": {"maxDuration": "5d"}}})
    with pytest.raises(AcmeError, match="max-duration 432000"):
        _new_order(shorter, **{"auto-renewal": _auto()})  # 10 days > 5 d
    with pytest.raises(AcmeError) as err:
        _new_order(delegation, notAfter="2030-01-01T00:00:00Z", **{"auto-renewal": _auto()})
    assert "notBefore/notAfter" in err.value.detail


def test_order1_names_and_the_ordinary_variant() -> None:
    _, delegation = _policy_and_delegation()
    with pytest.raises(AcmeError) as err:
        _new_order(delegation, identifiers=[{"type": "dns", "value": "www.ido.example"}],
                   **{"auto-renewal": _auto()})
    assert err.value.type == "rejectedIdentifier" and err.value.status == 403
    assert err.value.subproblems[0]["identifier"]["value"] == "www.ido.example"
    plain = _new_order(delegation, **{"allow-certificate-get": True})
    assert plain["allow-certificate-get"] is True and "auto-renewal" not in plain
    closed = merge(delegation, {"spec": {"star": {"allowOrdinary": False}}})
    with pytest.raises(AcmeError, match="only STAR"):
        _new_order(closed, **{"allow-certificate-get": True})


def test_star_order_manifest_follows_the_contract() -> None:
    policy, delegation = _policy_and_delegation()
    record = _new_order(delegation, **{"auto-renewal": _auto(**{"lifetime-adjust": 30})})
    so = orders.star_order_manifest(
        delegation, "abc123", record, "PEM", ["abc.ido.example"], "https://fe/acct/1",
        "https://fe/acme/order/gm0wfLYHBen/abc123", orders.Bounds.of(delegation, policy),
        dt.datetime.fromtimestamp(NOW, dt.timezone.utc))
    meta, spec = so["metadata"], so["spec"]
    assert meta["name"] == "gm0wfLYHBen-abc123" and meta["namespace"] == "dno"
    assert meta["labels"] == {"star.operator.dev/delegation": "gm0wfLYHBen"}
    assert meta["ownerReferences"][0]["uid"] == "uid-gm0wfLYHBen"
    assert (spec["csr"], spec["lifetime"], spec["lifetimeAdjust"]) == ("PEM", "86400s", "30s")
    assert orders.request_of(so)["auto-renewal"] == record["auto-renewal"]
    assert orders.made_for(so, "gm0wfLYHBen", "abc123")
    assert not orders.made_for(so, "gm0wfLYHBen-abc", "123")  # same name, other split


@pytest.mark.parametrize("spec,status,expected", [
    ({}, {}, ("processing", None)),
    ({}, {"phase": "Valid", "mode": "Native", "starCertificateURL": "u"}, ("valid", "upstream")),
    ({}, {"phase": "Ordered", "mode": "Native", "starCertificateURL": "u"}, ("processing", None)),
    ({}, {"mode": "Emulated", "series": {"serial": "0a"}}, ("valid", "served")),
    ({}, {"mode": "Emulated", "series": {}}, ("processing", None)),
    ({"star": False}, {"mode": "Ordinary", "certificateURL": "c"}, ("valid", "served")),
    ({"canceled": True}, {"phase": "Valid"}, ("canceled", None)),
    ({}, {"phase": "Canceled"}, ("canceled", None)),
])
def test_order1_state_from_the_star_order(spec: dict, status: dict, expected: tuple) -> None:
    state = orders.state_of({"spec": spec, "status": status})
    assert (state.status, state.certificate) == expected


def test_a_star_order_being_deleted_is_canceled() -> None:
    state = orders.state_of({"metadata": {"deletionTimestamp": "2026-12-02T14:00:00Z"},
                             "spec": {}, "status": {"phase": "Valid", "mode": "Emulated",
                                                    "series": {"serial": "0a"}}})
    assert state.status == "canceled"


def test_a_refused_star_order_makes_order1_invalid_with_the_fields() -> None:
    state = orders.state_of({"status": {"phase": "Rejected", "violations": [
        {"field": "keyTypes", "message": "RSA is not allowed"}], "conditions": [
        {"type": "Ready", "status": "False", "reason": "CsrRejected", "message": "m"}]}})
    assert state.status == "invalid" and state.error["status"] == 403
    assert state.error["subproblems"][0]["field"] == "keyTypes"


def _secret(text: str) -> dict[str, Any]:
    return {"data": {"hmacKey": base64.b64encode(text.encode()).decode()}}


def test_readiness_names_what_the_dno_must_fix() -> None:
    cluster = dno_cluster()
    d = cluster.objects[("Delegation", "gm0wfLYHBen")]
    template = cluster.objects[("CsrTemplate", "ido")]
    assert assess(d, None, None).reason == "TemplateNotFound"
    narrow = merge(template, {"spec": {"allowedNamespaces": ["other"]}})
    assert assess(d, narrow, None).reason == "NamespaceNotAllowed"
    assert assess(d, template, None).reason == "SecretNotFound"
    assert assess(d, template, {"data": {}}).reason == "SecretKeyMissing"
    short = assess(d, template, _secret("c2hvcnQ"))
    assert (short.reason, "c2hvcnQ" in short.message) == ("MacKeyInvalid", False)
    bad_map = merge(d, {"spec": {"cnameMap": {"www.other.example.": "x.ndc.example."}}})
    assert assess(bad_map, template, _secret(MAC)).reason == "CnameMapInvalid"
    ok = assess(d, template, _secret(MAC))
    assert (ok.ready, ok.reason) == (True, "AwaitingAccount") and MAC not in ok.message
    bound = merge(d, {"status": {"account": {"url": "u", "keyID": "ndc-key"}}})
    assert assess(bound, template, _secret(MAC)).reason == "AccountBound"
    rekeyed = merge(bound, {"spec": {"externalAccountBinding": {"keyID": "new"}}})
    assert assess(rekeyed, template, _secret(MAC)).reason == "AwaitingAccount"


def test_command_line_errors_are_usage_errors(tmp_path: Path) -> None:
    cert = tmp_path / "c.pem"
    cert.write_text("x")
    with pytest.raises(config.UsageError, match="--tls-cert and --tls-key"):
        config.parse(["--namespace", "n"], env={})
    with pytest.raises(config.UsageError, match="not a readable file"):
        config.parse(["--namespace", "n", "--tls-cert", str(cert), "--tls-key", "/nope"], env={})
    with pytest.raises(config.UsageError, match="--port"):
        config.parse(["--namespace", "n", "--port", "0", "--tls-cert", str(cert),
                      "--tls-key", str(cert)], env={})
    cfg = config.parse(["--tls-cert", str(cert), "--tls-key", str(cert)],
                       env={"STAR_DELEGATION_NAMESPACE": "dno", "STAR_DELEGATION_PORT": "9443",
                            "STAR_DELEGATION_MAX_DURATION": "30d"})
    assert (cfg.namespace, cfg.port, cfg.max_duration) == ("dno", 9443, 30 * 86400)
    assert json.dumps(str(cfg.tls_cert))


def test_a_second_grant_with_the_same_credentials_joins_the_bound_account() -> None:
    from star_operator.delegation import binding
    cluster = dno_cluster()
    first = merge(cluster.objects[("Delegation", "gm0wfLYHBen")], {"status": {"account": {
        "thumbprint": "t1", "keyID": "ndc-key", "url": "u"}}})
    same = merge(first, {"metadata": {"name": "second"}, "status": None})
    other_mac = merge(same, {"metadata": {"name": "third"}, "spec": {"externalAccountBinding": {
        "hmacKeySecretRef": {"name": "another-secret"}}}})
    other_kid = merge(same, {"metadata": {"name": "fourth"}, "spec": {"externalAccountBinding": {
        "keyID": "someone-else"}}})
    found = binding.joinable([first, same, other_mac, other_kid], [first])
    assert [d["metadata"]["name"] for d in found] == ["second"]
    assert binding.bound_account(first, "t1") and not binding.bound_account(first, "t2")

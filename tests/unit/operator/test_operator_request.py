"""StarOrder spec → order request; STAR bounds; immutability after ordering."""
from __future__ import annotations

import datetime

import pytest

from star_operator.ordering import request
from star_operator.ordering.templates import (TemplateSpecError, parse_template,
                                              split_host_port)

NOW = datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)
TEMPLATE = {"metadata": {"name": "t", "generation": 2}, "spec": {
    "template": {"keyTypes": [{"PublicKeyType": "id-ecPublicKey", "namedCurve": "secp256r1",
                               "SignatureType": "ecdsa-with-SHA256"}],
                 "extensions": {"subjectAltName": {"DNS": ["**"]}}},
    "domains": ["star.test"], "allowedNamespaces": ["cdn"],
    "star": {"minLifetime": "10s", "maxLifetime": "1d", "maxDuration": "7d"},
    "acme": {"directoryURL": "https://ca/directory", "accountKeySecretRef": {"name": "acct"},
             "caBundleSecretRef": {"name": "ca", "namespace": "x"}},
    "dns01": {"rfc2136": {"nameserver": "[::1]:5353", "tsigKeyName": "k",
                          "tsigSecretSecretRef": {"name": "tsig"}}}}}
SPEC = {"csrTemplateName": "t", "dnsNames": ["b.star.test", "a.star.test"], "lifetime": "1h",
        "duration": "2d", "secretName": "s"}


def test_parse_template_resolves_defaults() -> None:
    p = parse_template(TEMPLATE, "ops")
    assert p.allows_namespace("cdn") and not p.allows_namespace("other")
    assert p.bounds.min_lifetime == 10 and p.bounds.max_duration == 7 * 86400
    assert p.account_key_ref.namespace == "ops" and p.account_key_ref.key == "tls.key"
    assert p.ca_bundle_ref.namespace == "x" and p.ca_bundle_ref.key == "ca.crt"
    assert (p.rfc2136.server, p.rfc2136.port) == ("::1", 5353)
    assert p.rfc2136.tsig_algorithm == "hmac-sha256" and p.generation == 2


@pytest.mark.parametrize("mutate,path", [
    (lambda s: s["template"].pop("keyTypes"), "spec.template"),
    (lambda s: s["star"].update(minLifetime="2d"), "spec.star"),
    (lambda s: s["star"].update(maxDuration="forever"), "spec.star.maxDuration"),
    (lambda s: s.update(domains=["not a domain"]), "spec.domains"),
])
def test_parse_template_names_the_bad_field(mutate, path: str) -> None:
    import copy
    body = copy.deepcopy(TEMPLATE)
    mutate(body["spec"])
    with pytest.raises(TemplateSpecError) as err:
        parse_template(body, "ops")
    assert err.value.path.startswith(path)


def test_split_host_port() -> None:
    assert split_host_port("127.0.0.1:53") == ("127.0.0.1", 53)
    assert split_host_port("ns.example") == ("ns.example", 53)
    assert split_host_port("[2001:db8::1]") == ("2001:db8::1", 53)


def test_build_request_anchors_duration_and_prefers_the_recorded_end() -> None:
    req = request.build_request(SPEC, NOW)
    assert req.lifetime == 3600 and req.end_date == NOW + datetime.timedelta(days=2)
    assert req.key_type == "ecdsa-p256"
    later = request.build_request(SPEC, NOW + datetime.timedelta(hours=5),
                                  recorded_end="2030-01-03T00:00:00Z")
    assert later.end_date == req.end_date  # a restart does not move the end-date


def test_bounds_report_every_problem() -> None:
    policy = parse_template(TEMPLATE, "ops")
    spec = {**SPEC, "lifetime": "5s", "duration": "30d", "lifetimeAdjust": "1h"}
    problems = request.check_bounds(request.build_request(spec, NOW), policy, NOW)
    fields = [v.field for v in problems]
    assert fields == ["spec.lifetime", "spec.duration", "spec.lifetimeAdjust"]
    assert request.check_bounds(request.build_request(SPEC, NOW), policy, NOW) == []


def test_immutable_fields_are_detected_and_secret_policy_is_free() -> None:
    ordered = request.ordered_fields(SPEC)
    assert ordered["dnsNames"] == ["a.star.test", "b.star.test"]
    same_set = {**SPEC, "dnsNames": ["a.star.test", "b.star.test"], "secretPolicy": "Delete"}
    assert request.changed_immutable(same_set, ordered) == []
    edited = {**SPEC, "dnsNames": ["c.star.test"], "keyType": "rsa-2048"}
    assert request.changed_immutable(edited, ordered) == ["spec.dnsNames", "spec.keyType"]

"""Bad manifests are refused by the API server at apply time (the CRD schemas), no operator.

Every spec field of every kind has at least one bad value here; each must be refused and the
error must name that field (or an item of it). A good manifest of each kind passes and gets its
defaults, and so does every object in examples/. What a 1.20 structural schema cannot express
(unknown fields are pruned, not refused; cross-field rules) is left to the operator's parsers.
"""
from __future__ import annotations

import copy
import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from star_devenv.kubectl import Kubectl

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[3]
API = "star.operator.dev/v1alpha1"
DELETE = object()  # a change that removes the field
LONG_LABEL = "a" * 64  # one more than a DNS label may hold
PEM_ROOT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def ns_meta(name: str) -> dict[str, str]:
    return {"name": name, "namespace": "default"}


STAR_ORDER = {"apiVersion": API, "kind": "StarOrder", "metadata": ns_meta("o"),
              "spec": {"csrTemplateName": "t", "dnsNames": ["www.star.test"], "lifetime": "1h",
                       "duration": "1d", "secretName": "o-tls"}}
CDN_STAR_ORDER = {"apiVersion": API, "kind": "StarOrder", "metadata": ns_meta("cdn"),
                  "spec": {"issuerRef": {"name": "dno"}, "dnsNames": ["*.cdn.star.test"],
                           "lifetime": "4d", "endDate": "2030-01-01T00:00:00Z",
                           "secretName": "cdn-tls"}}
STAR_CERTIFICATE = {"apiVersion": API, "kind": "StarCertificate", "metadata": ns_meta("c"),
                    "spec": {"starCertificateURL": "https://ca.test/star/1", "secretName": "c-tls",
                             "privateKeySecretRef": {"name": "c-key"},
                             "caBundleSecretRef": {"name": "roots"},
                             "dnsNames": ["www.star.test"], "endDate": "2030-01-01T00:00:00Z",
                             "issuerName": "star-test"}}
STAR_ISSUER = {"apiVersion": API, "kind": "StarIssuer", "metadata": ns_meta("i"),
               "spec": {"directoryURL": "https://delegation.dno.test/directory",
                        "externalAccountBindingSecretRef": {"name": "dno-eab"},
                        "caBundleSecretRef": {"name": "dno-roots"},
                        "accountKeySecretRef": {"name": "dno-account"},
                        "delegationURL": "https://delegation.dno.test/delegation/1",
                        "contact": ["mailto:cdn@cdn.test"]}}
DELEGATION = {"apiVersion": API, "kind": "Delegation", "metadata": ns_meta("d"),
              "spec": {"csrTemplateName": "star-test",
                       "externalAccountBinding": {"keyID": "cdn-2026",
                                                  "hmacKeySecretRef": {"name": "cdn-eab"}},
                       "cnameMap": {"www.star.test.": "www.star.test.cdn.test."},
                       "star": {}}}
CSR_TEMPLATE = {
    "apiVersion": API, "kind": "CsrTemplate", "metadata": {"name": "t"},
    "spec": {
        "template": {
            "keyTypes": [{"PublicKeyType": "id-ecPublicKey", "namedCurve": "secp256r1",
                          "SignatureType": "ecdsa-with-SHA256"},
                         {"PublicKeyType": "rsaEncryption", "PublicKeyLength": 2048,
                          "SignatureType": "sha256WithRSAEncryption"}],
            "subject": {"commonName": "**", "country": "DE"},
            "extensions": {"subjectAltName": {"DNS": ["**", "*", "WWW.Star.Test."],
                                              "Email": ["dno@star.test"],
                                              "URI": ["https://star.test/"]},
                           "keyUsage": ["digitalSignature"],
                           "extendedKeyUsage": ["serverAuth", "1.3.6.1.5.5.7.3.2"]}},
        "domains": ["star.test"], "allowedNamespaces": ["*"],
        "acme": {"directoryURL": "https://ca.star.test/directory", "profile": "shortlived",
                 "contact": ["mailto:dno@star.test"],
                 "accountKeySecretRef": {"name": "acme-account", "namespace": "star-operator"},
                 "caBundleSecretRef": {"name": "ca"}},
        "caa": {"publish": True, "issuerDomain": "ca.star.test"},
        "dns01": {"rfc2136": {"nameserver": "[::1]:5353", "zone": "star.test.",
                              "tsigKeyName": "star-key", "tsigSecretSecretRef": {"name": "tsig"}}}}}


def with_changes(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``base`` under a fresh name with each dotted path (from the document root) set, or
    removed for DELETE."""
    doc = copy.deepcopy(base)
    doc["metadata"]["name"] = f"x-{uuid.uuid4().hex[:6]}"
    for path, value in changes.items():
        *parents, leaf = path.split(".")
        node = doc
        for key in parents:
            node = node.setdefault(key, {})
        if value is DELETE:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    return doc


def dry_run(kubectl: Kubectl, doc: dict[str, Any], *args: str):
    # --validate=false: the API server (CRD schema), not kubectl, must do the refusing
    return kubectl.run("apply", "--dry-run=server", "--validate=false", *args, "-f", "-",
                       input=json.dumps(doc), check=False)


def refused_fields(stderr: str) -> set[str]:
    """The field each error line names: ``spec.x[0]: Invalid value ...``, or for oneOf/not
    errors (``<nil>: Invalid value: "": "spec" must validate ...``) the quoted one."""
    out = set()
    for line in re.split(r"\n\* |\bis invalid: ", stderr):
        quoted = re.match(r'<nil>: Invalid value: "": "([^"]+)" must', line)
        out.add(quoted.group(1) if quoted else line.split(": ", 1)[0].strip())
    return out


def unindexed(field: str) -> str:
    """1.20 names an item of an array of objects without its index (``a.b.c``, not
    ``a.b[0].c``) but an item of an array of strings with it (``a[0]``)."""
    return re.sub(r"\[\d+\]", "", field)


def bad(path: str, value: Any, field: str | None = None, shown: str | None = None) -> Any:
    """One refusal case: ``path`` set to ``value`` must be refused naming ``field`` (default
    ``path``); ``shown`` is the value in the test id (default its JSON, shortened)."""
    shown = shown or ("<deleted>" if value is DELETE else json.dumps(value)[:40])
    return pytest.param({path: value}, field or path, id=f"{path}={shown}")


def assert_refused(kubectl: Kubectl, base: dict[str, Any], changes: dict[str, Any],
                   field: str) -> None:
    proc = dry_run(kubectl, with_changes(base, changes))
    assert proc.returncode != 0, f"accepted: {changes}"
    assert unindexed(field) in {unindexed(f) for f in refused_fields(proc.stderr)}, \
        (field, proc.stderr)


def stored(kubectl: Kubectl, doc: dict[str, Any]) -> dict[str, Any]:
    """The object as the API server would store it (defaults applied); fails if refused."""
    proc = dry_run(kubectl, with_changes(doc, {}), "-o", "json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def dig(doc: dict[str, Any], path: str) -> Any:
    for key in path.split("."):
        doc = doc[key]
    return doc


GOOD = [
    (STAR_ORDER, {"spec.keyType": "ecdsa-p256", "spec.secretPolicy": "Retain",
                  "spec.canceled": False, "spec.rotationPolicy": "Always", "spec.star": True,
                  "spec.revokeOnDelete": True}),
    (CDN_STAR_ORDER, {"spec.issuerRef.kind": "StarIssuer"}),
    (STAR_CERTIFICATE, {"spec.privateKeySecretRef.key": "tls.key",
                        "spec.caBundleSecretRef.key": "ca.crt"}),
    (STAR_ISSUER, {"spec.caBundleSecretRef.key": "ca.crt"}),
    (DELEGATION, {"spec.externalAccountBinding.hmacKeySecretRef.key": "hmacKey",
                  "spec.star.maxLifetime": "7d", "spec.star.maxDuration": "365d",
                  "spec.star.allowOrdinary": False}),
    (CSR_TEMPLATE, {"spec.star.minLifetime": "1s", "spec.star.maxLifetime": "7d",
                    "spec.star.maxDuration": "365d", "spec.acme.accountKeySecretRef.key": "tls.key",
                    "spec.acme.caBundleSecretRef.key": "ca.crt", "spec.caa.checkInterval": "5m",
                    "spec.caa.ttl": 300, "spec.dns01.rfc2136.tsigAlgorithm": "hmac-sha256",
                    "spec.dns01.rfc2136.tsigSecretSecretRef.key": "secret"}),
]


@pytest.mark.parametrize("doc,defaults", GOOD, ids=[d["metadata"]["name"] + "-" + d["kind"]
                                                    for d, _ in GOOD])
def test_good_manifest_passes_and_gets_defaults(kubectl: Kubectl, crds: None,
                                                doc: dict[str, Any],
                                                defaults: dict[str, Any]) -> None:
    obj = stored(kubectl, doc)
    assert {path: dig(obj, path) for path in defaults} == defaults


def _examples() -> list[Any]:
    out = []
    for path in sorted((ROOT / "examples").rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("apiVersion") == API:
                out.append(pytest.param(doc, id=f"{path.relative_to(ROOT / 'examples')}:"
                                                 f"{doc['kind']}/{doc['metadata']['name']}"))
    return out


@pytest.mark.parametrize("doc", _examples())
def test_every_example_passes_the_api_server(kubectl: Kubectl, crds: None,
                                             doc: dict[str, Any]) -> None:
    if "namespace" in doc["metadata"]:  # its namespace need not exist here
        doc = with_changes(doc, {"metadata.namespace": "default"})
    stored(kubectl, doc)


STAR_ORDER_CASES = [
    bad("spec.csrTemplateName", "Bad_Template"),
    bad("spec.csrTemplateName", "t..x"),
    bad("spec.csrTemplateName", DELETE, "spec"),  # neither csrTemplateName nor issuerRef
    bad("spec.issuerRef", {"name": "dno"}, "spec"),  # both (oneOf)
    bad("spec.dnsNames", ["Not A Name"]),
    bad("spec.dnsNames", []),
    bad("spec.dnsNames", DELETE),
    bad("spec.dnsNames", ["*.test"]),  # a wildcard over a single label
    bad("spec.dnsNames", ["*.*.star.test"]),
    bad("spec.dnsNames", [f"{LONG_LABEL}.star.test"]),
    bad("spec.dnsNames", ["www.star.test", "www.star.test"]),  # a set
    bad("spec.dnsNames", [f"n{i}.star.test" for i in range(101)]),
    bad("spec.dnsNames", "www.star.test"),
    bad("spec.keyType", "dsa-1024"),
    bad("spec.subject", {"commonName": 7}, "spec.subject.commonName"),
    bad("spec.subject", "CN=www"),
    bad("spec.lifetime", "ten minutes"),
    bad("spec.lifetime", "0s"),
    bad("spec.lifetime", 3600),
    bad("spec.lifetime", DELETE),
    bad("spec.lifetimeAdjust", "-1h"),
    bad("spec.duration", DELETE, "spec"),  # neither duration nor endDate (oneOf)
    bad("spec.duration", "1 day"),
    bad("spec.duration", "0h0m"),
    bad("spec.endDate", "2030-01-01T00:00:00Z", "spec"),  # both duration and endDate (oneOf)
    pytest.param({"spec.duration": DELETE, "spec.endDate": "2030-01-01T00:00:00"},
                 "spec.endDate", id="spec.endDate=no UTC offset"),
    bad("spec.startDate", "tomorrow"),
    bad("spec.secretName", "Bad_Name"),
    bad("spec.secretName", "o..tls"),
    bad("spec.secretName", "s" * 254),
    bad("spec.secretName", DELETE),
    bad("spec.secretPolicy", "Shred"),
    bad("spec.canceled", "yes"),
    bad("spec.rotationPolicy", "Sometimes"),
    bad("spec.csr", "MIIB-not-pem"),
    bad("spec.csr", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"),
    bad("spec.star", "no"),
    bad("spec.revokeOnDelete", "false"),
]
CDN_STAR_ORDER_CASES = [
    bad("spec.issuerRef", {"kind": "StarIssuer"}, "spec.issuerRef.name"),
    bad("spec.issuerRef.name", "Bad Name"),
    bad("spec.issuerRef.kind", "ClusterIssuer"),
    bad("spec.issuerRef", "dno"),
]
STAR_CERTIFICATE_CASES = [
    bad("spec.starCertificateURL", "http://ca.test/star/1"),
    bad("spec.starCertificateURL", "https://ca.test/star 1"),
    bad("spec.starCertificateURL", DELETE),
    bad("spec.secretName", "Bad_Name"),
    bad("spec.secretName", DELETE),
    bad("spec.privateKeySecretRef", {"key": "tls.key"}, "spec.privateKeySecretRef.name"),
    bad("spec.privateKeySecretRef.name", "c..key"),
    bad("spec.privateKeySecretRef.key", "tls key"),
    bad("spec.caBundle", "this is not a certificate"),
    bad("spec.caBundle", 42),
    bad("spec.caBundleSecretRef", {}, "spec.caBundleSecretRef.name"),
    bad("spec.caBundleSecretRef.key", "ca/crt"),
    bad("spec.dnsNames", ["bad..name"]),
    bad("spec.dnsNames", ["*.test"]),
    bad("spec.dnsNames", ["www.star.test", "www.star.test"]),
    bad("spec.endDate", "2030-13-01T00:00:00Z"),
    bad("spec.issuerName", 42),
]
STAR_ISSUER_CASES = [
    bad("spec.directoryURL", "http://delegation.dno.test/directory"),
    bad("spec.directoryURL", DELETE),
    bad("spec.externalAccountBindingSecretRef", DELETE),
    bad("spec.externalAccountBindingSecretRef", {}, "spec.externalAccountBindingSecretRef.name"),
    bad("spec.externalAccountBindingSecretRef.name", "Bad_Name"),
    bad("spec.caBundleSecretRef", {"key": "ca.crt"}, "spec.caBundleSecretRef.name"),
    bad("spec.caBundleSecretRef.key", "ca crt"),
    bad("spec.accountKeySecretRef.name", "A"),
    bad("spec.accountKeySecretRef.key", "a/b"),
    bad("spec.delegationURL", "http://delegation.dno.test/delegation/1"),
    bad("spec.contact", ["cdn@cdn.test"]),  # an ACME contact is a URL (mailto:...)
    bad("spec.contact", "mailto:cdn@cdn.test"),
]
DELEGATION_CASES = [
    bad("metadata.name", "d" * 64),  # it labels the StarOrders (at most 63)
    bad("spec.csrTemplateName", "Bad_Name"),
    bad("spec.csrTemplateName", DELETE),
    bad("spec.externalAccountBinding", DELETE),
    bad("spec.externalAccountBinding.keyID", ""),
    bad("spec.externalAccountBinding.keyID", "key id"),
    bad("spec.externalAccountBinding.keyID", "k" * 129),
    bad("spec.externalAccountBinding.hmacKeySecretRef", DELETE),
    bad("spec.externalAccountBinding.hmacKeySecretRef.name", "Bad_Name"),
    bad("spec.externalAccountBinding.hmacKeySecretRef.key", "hmac/key"),
    bad("spec.cnameMap", {"www.star.test.": "www.star.test.cdn.test"},
        "spec.cnameMap.www.star.test."),  # no terminating dot
    bad("spec.cnameMap", {"www.star.test.": f"{LONG_LABEL}.cdn.test."},
        "spec.cnameMap.www.star.test."),
    bad("spec.cnameMap", {f"n{i}.star.test.": "edge.cdn.test." for i in range(101)}),
    bad("spec.star.maxLifetime", "1 day"),
    bad("spec.star.maxLifetime", "0s"),
    bad("spec.star.maxDuration", "forever"),
    bad("spec.star.maxDuration", "0d"),
    bad("spec.star.allowOrdinary", "yes"),
]


def bad_key_type(field: str, **changes: Any) -> Any:
    """A keyTypes entry (P-256 unless changed; DELETE removes a key) refused naming
    ``keyTypes[0]`` or ``keyTypes[0].<field>``."""
    entry = {"PublicKeyType": "id-ecPublicKey", "namedCurve": "secp256r1",
             "SignatureType": "ecdsa-with-SHA256", **changes}
    shown = ",".join(f"{k}={'<deleted>' if v is DELETE else v}" for k, v in changes.items())
    return bad("spec.template.keyTypes", [{k: v for k, v in entry.items() if v is not DELETE}],
               "spec.template.keyTypes[0]" + (f".{field}" if field else ""), shown)


TEMPLATE = "spec.template"
SAN = f"{TEMPLATE}.extensions.subjectAltName"
RFC2136 = "spec.dns01.rfc2136"
CSR_TEMPLATE_CASES = [
    bad(TEMPLATE, DELETE),
    bad(f"{TEMPLATE}.keyTypes", []),
    bad(f"{TEMPLATE}.keyTypes", DELETE),
    bad_key_type("PublicKeyType", PublicKeyType="dsa"),
    bad_key_type("namedCurve", namedCurve="secp256k1"),
    bad_key_type("SignatureType", SignatureType="md5WithRSAEncryption"),
    bad_key_type("SignatureType", SignatureType=DELETE),
    bad_key_type("", SignatureType="sha256WithRSAEncryption"),  # RSA signature, EC key (oneOf)
    bad_key_type("", namedCurve=DELETE),  # EC without its curve (oneOf)
    bad_key_type("", PublicKeyType="rsaEncryption", namedCurve=DELETE,
                 SignatureType="sha256WithRSAEncryption"),  # RSA without PublicKeyLength
    bad_key_type("PublicKeyLength", PublicKeyType="rsaEncryption", namedCurve=DELETE,
                 PublicKeyLength=1024, SignatureType="sha256WithRSAEncryption"),
    bad(f"{TEMPLATE}.subject", {}),
    bad(f"{TEMPLATE}.subject", {"commonName": ""}, f"{TEMPLATE}.subject.commonName"),
    bad(f"{TEMPLATE}.subject", {"country": True}, f"{TEMPLATE}.subject.country"),  # YAML NO
    bad(f"{TEMPLATE}.extensions", DELETE),
    bad(f"{TEMPLATE}.extensions", {}, SAN),
    bad(SAN, {}),
    bad(f"{SAN}.DNS", []),
    bad(f"{SAN}.DNS", ["not a name!"]),
    bad(f"{SAN}.DNS", ["*.test"]),
    bad(f"{SAN}.Email", ["no-at-sign"]),
    bad(f"{SAN}.Email", ["*"]),  # placeholders only in DNS entries
    bad(f"{SAN}.Email", ["a@star.test", "a@star.test"]),
    bad(f"{SAN}.URI", ["not a uri"]),
    bad(f"{TEMPLATE}.extensions.keyUsage", []),
    bad(f"{TEMPLATE}.extensions.keyUsage", ["signEverything"]),
    bad(f"{TEMPLATE}.extensions.keyUsage", ["digitalSignature", "digitalSignature"]),
    bad(f"{TEMPLATE}.extensions.extendedKeyUsage", ["anyPurpose"]),
    bad(f"{TEMPLATE}.extensions.extendedKeyUsage", ["1.3.06"]),
    bad("spec.domains", ["Star.Test"]),
    bad("spec.domains", [f"{LONG_LABEL}.test"]),
    bad("spec.allowedNamespaces", DELETE),
    bad("spec.allowedNamespaces", []),
    bad("spec.allowedNamespaces", ["Bad_NS"]),
    bad("spec.star.minLifetime", "1 s"),
    bad("spec.star.maxLifetime", "0s"),
    bad("spec.star.maxDuration", "0d"),
    bad("spec.star.maxDuration", "1y"),
    bad("spec.acme", DELETE),
    bad("spec.acme.directoryURL", "http://plain/directory"),
    bad("spec.acme.directoryURL", DELETE),
    bad("spec.acme.profile", "short lived"),
    bad("spec.acme.contact", ["dno@star.test"]),
    bad("spec.acme.accountKeySecretRef", DELETE),
    bad("spec.acme.accountKeySecretRef.name", "Acme"),
    bad("spec.acme.accountKeySecretRef.namespace", "Bad_NS"),
    bad("spec.acme.accountKeySecretRef.key", "tls/key"),
    bad("spec.acme.caBundleSecretRef", {"key": "ca.crt"}, "spec.acme.caBundleSecretRef.name"),
    bad("spec.caa.publish", "yes"),
    bad("spec.caa.issuerDomain", "ca..star.test"),
    bad("spec.caa.checkInterval", "often"),
    bad("spec.caa.checkInterval", "0s"),
    bad("spec.caa.ttl", 0),
    bad("spec.caa.ttl", 86401),
    bad("spec.dns01", DELETE),
    bad(RFC2136, DELETE),
    bad(f"{RFC2136}.nameserver", DELETE),
    bad(f"{RFC2136}.nameserver", "ns 1"),
    bad(f"{RFC2136}.nameserver", "127.0.0.1:99999"),
    bad(f"{RFC2136}.nameserver", "127.0.0.1:0"),
    bad(f"{RFC2136}.zone", "star..test"),
    bad(f"{RFC2136}.tsigKeyName", ""),
    bad(f"{RFC2136}.tsigKeyName", DELETE),
    bad(f"{RFC2136}.tsigAlgorithm", "rot13"),
    bad(f"{RFC2136}.tsigSecretSecretRef", DELETE),
    bad(f"{RFC2136}.tsigSecretSecretRef.name", "T"),
    bad(f"{RFC2136}.tsigSecretSecretRef.namespace", "-ns"),
    bad(f"{RFC2136}.tsigSecretSecretRef.key", "a b"),
]
CASES = [(base, case) for base, cases in (
    (STAR_ORDER, STAR_ORDER_CASES), (CDN_STAR_ORDER, CDN_STAR_ORDER_CASES),
    (STAR_CERTIFICATE, STAR_CERTIFICATE_CASES), (STAR_ISSUER, STAR_ISSUER_CASES),
    (DELEGATION, DELEGATION_CASES), (CSR_TEMPLATE, CSR_TEMPLATE_CASES)) for case in cases]


@pytest.mark.parametrize("base,changes,field", [
    pytest.param(base, *case.values, id=f"{base['kind']}:{case.id}") for base, case in CASES])
def test_bad_value_is_refused_naming_the_field(kubectl: Kubectl, crds: None,
                                               base: dict[str, Any], changes: dict[str, Any],
                                               field: str) -> None:
    assert_refused(kubectl, base, changes, field)

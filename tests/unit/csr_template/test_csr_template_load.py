"""Loading and validating templates: the RFC example, JSON/YAML/mapping input, and one bad
template per structural rule of RFC 9115 Appendix A, each naming the offending field path."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from csr_template_helpers import RFC_EXAMPLE_JSON

from star_operator.csr_template import CsrTemplate, KeyType, TemplateError, load_template

RFC_YAML = """
keyTypes:
  - PublicKeyType: rsaEncryption
    PublicKeyLength: 2048
    SignatureType: sha256WithRSAEncryption
  - {PublicKeyType: id-ecPublicKey, namedCurve: secp256r1, SignatureType: ecdsa-with-SHA256}
subject: {country: CA, stateOrProvince: "**", locality: "**"}
extensions:
  subjectAltName: {DNS: [abc.ido.example]}
  keyUsage: [digitalSignature]
  extendedKeyUsage: [serverAuth, clientAuth]
"""


def rfc() -> dict[str, Any]:
    return json.loads(RFC_EXAMPLE_JSON)


def test_rfc_example_loads() -> None:
    t = load_template(RFC_EXAMPLE_JSON)
    assert t.key_types == (
        KeyType("rsaEncryption", "sha256WithRSAEncryption", length=2048),
        KeyType("id-ecPublicKey", "ecdsa-with-SHA256", curve="secp256r1"),
    )
    assert t.subject == {"country": "CA", "stateOrProvince": "**", "locality": "**"}
    assert t.dns == ("abc.ido.example",) and t.email == () and t.uri == ()
    assert t.key_usage == ("digitalSignature",)
    assert t.extended_key_usage == ("serverAuth", "clientAuth")


def test_yaml_mapping_and_bytes_give_the_same_template() -> None:
    expected = load_template(RFC_EXAMPLE_JSON)
    assert load_template(RFC_YAML) == expected
    assert load_template(rfc()) == expected
    assert load_template(RFC_EXAMPLE_JSON.encode()) == expected


def test_to_dict_round_trips() -> None:
    t = load_template(RFC_EXAMPLE_JSON)
    assert t.to_dict() == rfc()
    assert load_template(t.to_dict()) == t


def test_optional_parts_absent() -> None:
    """No subject, no keyUsage / extendedKeyUsage: allowed, and recorded as None."""
    t = load_template({"keyTypes": rfc()["keyTypes"],
                       "extensions": {"subjectAltName": {"DNS": ["**"]}}})
    assert t.subject == {} and t.key_usage is None and t.extended_key_usage is None
    assert isinstance(t, CsrTemplate)


@pytest.mark.parametrize("dns", [["**"], ["*"], ["abc.ido.example", "**", "*", "*"],
                                 ["*.abc.ido.example"], ["**.abc.ido.example"]])
def test_good_dns_entries(dns: list[str]) -> None:
    """Placeholders are the exact strings * and **; anything longer is a literal name."""
    doc = rfc()
    doc["extensions"]["subjectAltName"]["DNS"] = dns
    if dns == ["**.abc.ido.example"]:  # a literal, but not a valid DNS name
        with pytest.raises(TemplateError) as err:
            load_template(doc)
        assert err.value.path == "extensions.subjectAltName.DNS[0]"
        return
    assert load_template(doc).dns == tuple(dns)


def test_dns_literal_is_normalised() -> None:
    doc = rfc()
    doc["extensions"]["subjectAltName"]["DNS"] = ["ABC.Ido.Example."]
    assert load_template(doc).dns == ("abc.ido.example",)


def test_email_uri_eku_oid_all_subject_attributes() -> None:
    doc = rfc()
    doc["subject"] = {"country": "CA", "stateOrProvince": "*", "locality": "Ottawa",
                      "organization": "**", "organizationalUnit": "*",
                      "emailAddress": "pki@ido.example", "commonName": "**"}
    doc["extensions"]["subjectAltName"] = {"DNS": ["**"], "Email": ["admin@ido.example"],
                                           "URI": ["https://ido.example/cdn"]}
    doc["extensions"]["extendedKeyUsage"] = ["serverAuth", "1.3.6.1.4.1.99999.1"]
    doc["extensions"]["keyUsage"] = ["digitalSignature", "keyAgreement", "encipherOnly"]
    t = load_template(doc)
    assert t.email == ("admin@ido.example",) and t.uri == ("https://ido.example/cdn",)
    assert t.extended_key_usage == ("serverAuth", "1.3.6.1.4.1.99999.1")


def _set(path: str, value: Any) -> dict[str, Any]:
    """The RFC example with ``path`` (dots, [i]) set to ``value`` (or deleted for DELETE)."""
    doc = copy.deepcopy(rfc())
    *parents, last = path.replace("[", ".").replace("]", "").split(".")
    node: Any = doc
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    key: Any = int(last) if last.isdigit() else last
    if value is DELETE:
        del node[key]
    else:
        node[key] = value
    return doc


DELETE = object()

BAD = [
    # (what, document change, expected error path, message fragment)
    ("top level not an object", None, "", "must be an object"),
    ("unknown top-level field", ("validity", 90), "validity", "unknown field"),
    ("keyTypes missing", ("keyTypes", DELETE), "keyTypes", "missing"),
    ("keyTypes empty", ("keyTypes", []), "keyTypes", "must not be empty"),
    ("keyTypes not a list", ("keyTypes", {}), "keyTypes", "must be a list"),
    ("keyType not an object", ("keyTypes[1]", "ec"), "keyTypes[1]", "must be an object"),
    ("PublicKeyType missing", ("keyTypes[0].PublicKeyType", DELETE),
     "keyTypes[0].PublicKeyType", "missing"),
    ("PublicKeyType unknown", ("keyTypes[0].PublicKeyType", "dsa"),
     "keyTypes[0].PublicKeyType", "not one of"),
    ("RSA length missing", ("keyTypes[0].PublicKeyLength", DELETE),
     "keyTypes[0].PublicKeyLength", "missing"),
    ("RSA length too short", ("keyTypes[0].PublicKeyLength", 1024),
     "keyTypes[0].PublicKeyLength", "at least 2048"),
    ("RSA length not an int", ("keyTypes[0].PublicKeyLength", "2048"),
     "keyTypes[0].PublicKeyLength", "integer"),
    ("RSA length a bool", ("keyTypes[0].PublicKeyLength", True),
     "keyTypes[0].PublicKeyLength", "integer"),
    ("RSA signature type unknown", ("keyTypes[0].SignatureType", "sha1WithRSAEncryption"),
     "keyTypes[0].SignatureType", "not one of"),
    ("RSA signature is ECDSA", ("keyTypes[0].SignatureType", "ecdsa-with-SHA256"),
     "keyTypes[0].SignatureType", "not one of"),
    ("RSA entry with a curve", ("keyTypes[0].namedCurve", "secp256r1"),
     "keyTypes[0].namedCurve", "unknown field"),
    ("EC curve missing", ("keyTypes[1].namedCurve", DELETE), "keyTypes[1].namedCurve", "missing"),
    ("EC curve unknown", ("keyTypes[1].namedCurve", "secp256k1"),
     "keyTypes[1].namedCurve", "not one of"),
    ("EC signature missing", ("keyTypes[1].SignatureType", DELETE),
     "keyTypes[1].SignatureType", "missing"),
    ("EC signature unknown", ("keyTypes[1].SignatureType", "ecdsa-with-SHA1"),
     "keyTypes[1].SignatureType", "not one of"),
    ("EC entry with a length", ("keyTypes[1].PublicKeyLength", 256),
     "keyTypes[1].PublicKeyLength", "unknown field"),
    ("subject empty", ("subject", {}), "subject", "must not be empty"),
    ("subject unknown attribute", ("subject.serialNumber", "1"),
     "subject.serialNumber", "unknown field"),
    ("subject value empty", ("subject.locality", ""), "subject.locality", "empty"),
    ("subject value not a string (YAML NO)", ("subject.country", False),
     "subject.country", "quote it"),
    ("country literal not 2 letters", ("subject.country", "CAN"), "subject.country", "2"),
    ("extensions missing", ("extensions", DELETE), "extensions", "missing"),
    ("unknown extension", ("extensions.basicConstraints", {"ca": False}),
     "extensions.basicConstraints", "unknown field"),
    ("SAN missing", ("extensions.subjectAltName", DELETE), "extensions.subjectAltName",
     "missing"),
    ("SAN empty", ("extensions.subjectAltName", {}), "extensions.subjectAltName", "empty"),
    ("SAN unknown type", ("extensions.subjectAltName.IP", ["192.0.2.1"]),
     "extensions.subjectAltName.IP", "unknown field"),
    ("DNS list empty", ("extensions.subjectAltName.DNS", []), "extensions.subjectAltName.DNS",
     "empty"),
    ("DNS name empty", ("extensions.subjectAltName.DNS", [""]),
     "extensions.subjectAltName.DNS[0]", "empty"),
    ("DNS name invalid", ("extensions.subjectAltName.DNS", ["abc", "a b.example"]),
     "extensions.subjectAltName.DNS[1]", "not a valid DNS name"),
    ("DNS literal repeated", ("extensions.subjectAltName.DNS", ["a.example", "**", "A.example"]),
     "extensions.subjectAltName.DNS[2]", "duplicate"),
    ("Email placeholder", ("extensions.subjectAltName.Email", ["**"]),
     "extensions.subjectAltName.Email[0]", "only allowed in DNS"),
    ("URI placeholder", ("extensions.subjectAltName.URI", ["https://x.example/", "*"]),
     "extensions.subjectAltName.URI[1]", "only allowed in DNS"),
    ("Email list empty", ("extensions.subjectAltName.Email", []),
     "extensions.subjectAltName.Email", "empty"),
    ("Email not an address", ("extensions.subjectAltName.Email", ["admin"]),
     "extensions.subjectAltName.Email[0]", "not an email"),
    ("URI not absolute", ("extensions.subjectAltName.URI", ["/relative"]),
     "extensions.subjectAltName.URI[0]", "not an absolute URI"),
    ("keyUsage empty", ("extensions.keyUsage", []), "extensions.keyUsage", "empty"),
    ("keyUsage null", ("extensions.keyUsage", None), "extensions.keyUsage", "must be a list"),
    ("keyUsage unknown", ("extensions.keyUsage", ["digitalSignature", "signing"]),
     "extensions.keyUsage[1]", "not one of"),
    ("keyUsage repeated", ("extensions.keyUsage", ["cRLSign", "cRLSign"]),
     "extensions.keyUsage[1]", "duplicate"),
    ("EKU empty", ("extensions.extendedKeyUsage", []), "extensions.extendedKeyUsage", "empty"),
    ("EKU unknown name", ("extensions.extendedKeyUsage", ["serverAuth", "webAuth"]),
     "extensions.extendedKeyUsage[1]", "neither"),
    ("EKU OID with leading zero", ("extensions.extendedKeyUsage", ["1.3.06.1"]),
     "extensions.extendedKeyUsage[0]", "neither"),
    ("EKU OID single arc", ("extensions.extendedKeyUsage", ["1"]),
     "extensions.extendedKeyUsage[0]", "neither"),
    ("EKU name and its OID", ("extensions.extendedKeyUsage", ["serverAuth", "1.3.6.1.5.5.7.3.1"]),
     "extensions.extendedKeyUsage[1]", "duplicate"),
]


@pytest.mark.parametrize(("what", "change", "path", "fragment"), BAD, ids=[b[0] for b in BAD])
def test_bad_template_names_the_field(what: str, change: Any, path: str, fragment: str) -> None:
    doc: Any = ["not", "a", "mapping"] if change is None else _set(*change)
    with pytest.raises(TemplateError) as err:
        load_template(doc)
    assert err.value.path == path, str(err.value)
    assert fragment in err.value.message
    assert str(err.value).startswith(path or "<template>")


@pytest.mark.parametrize("text", ["{not json: [", "keyTypes: [\n  - a\n b"])
def test_unparseable_text(text: str) -> None:
    with pytest.raises(TemplateError) as err:
        load_template(text)
    assert err.value.path == "" and "JSON" in err.value.message


def test_yaml_unquoted_no_is_reported_with_hint() -> None:
    with pytest.raises(TemplateError) as err:
        load_template(RFC_YAML.replace("country: CA", "country: NO"))
    assert err.value.path == "subject.country" and "quote" in err.value.message

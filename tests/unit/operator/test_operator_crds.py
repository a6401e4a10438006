"""The CRD manifests load, agree with the code's constants, and are 1.20-compatible."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from star_operator import conditions
from star_operator import constants as c

CRDS = Path(__file__).resolve().parents[3] / "crds"
KINDS = {c.CSRTEMPLATE_KIND: ("Cluster", c.CSRTEMPLATE_PLURAL),
         c.STARORDER_KIND: ("Namespaced", c.STARORDER_PLURAL),
         c.STARCERTIFICATE_KIND: ("Namespaced", c.STARCERTIFICATE_PLURAL),
         c.DELEGATION_KIND: ("Namespaced", c.DELEGATION_PLURAL),
         c.STARISSUER_KIND: ("Namespaced", c.STARISSUER_PLURAL)}


def load_all() -> dict[str, dict[str, Any]]:
    docs = {}
    for path in sorted(CRDS.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        docs[doc["spec"]["names"]["kind"]] = doc
        assert path.name == f"{doc['spec']['group']}_{doc['spec']['names']['plural']}.yaml"
    return docs


def walk(schema: dict[str, Any], path: str = ""):
    yield path, schema
    for key in ("properties", "additionalProperties"):
        sub = schema.get(key)
        if key == "properties" and sub:
            for name, child in sub.items():
                yield from walk(child, f"{path}.{name}")
        elif isinstance(sub, dict):
            yield from walk(sub, f"{path}[*]")
    if isinstance(schema.get("items"), dict):
        yield from walk(schema["items"], f"{path}[]")


def test_one_file_per_kind_with_expected_scope() -> None:
    docs = load_all()
    assert set(docs) == set(KINDS)
    for kind, doc in docs.items():
        scope, plural = KINDS[kind]
        assert doc["apiVersion"] == "apiextensions.k8s.io/v1"
        assert doc["spec"]["group"] == c.GROUP
        assert doc["spec"]["scope"] == scope
        assert doc["spec"]["names"]["plural"] == plural
        assert doc["metadata"]["name"] == f"{plural}.{c.GROUP}"
        assert doc["spec"]["names"]["shortNames"]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_version_has_status_printer_columns_and_structural_schema(kind: str) -> None:
    doc = load_all()[kind]
    (version,) = doc["spec"]["versions"]
    assert version["name"] == c.VERSION and version["served"] and version["storage"]
    assert version["subresources"] == {"status": {}}
    cols = {col["name"]: col for col in version["additionalPrinterColumns"]}
    assert cols["Ready"]["jsonPath"] == (
        f'.status.conditions[?(@.type=="{conditions.READY}")].status')
    assert "Age" in cols
    schema = version["schema"]["openAPIV3Schema"]
    assert schema["required"] == ["spec"]
    for path, node in walk(schema):
        # structural: every node typed (or explicitly preserving unknown fields)
        assert "type" in node or node.get("x-kubernetes-preserve-unknown-fields"), path
        # nothing newer than Kubernetes 1.20
        assert "x-kubernetes-validations" not in node, path
        if "default" in node:
            assert node.get("type") in ("string", "object", "integer", "boolean"), path


def test_printer_columns_cover_names_and_not_after() -> None:
    docs = load_all()
    for kind in (c.STARORDER_KIND, c.STARCERTIFICATE_KIND):
        cols = {col["name"] for col in docs[kind]["spec"]["versions"][0][
            "additionalPrinterColumns"]}
        assert {"Names", "NotAfter"} <= cols, kind


#: Fields holding a time that is normally still ahead. kubectl (1.20 and later) prints a
#: ``type: date`` column as the time since, and a time in the future as ``<invalid>``.
FUTURE_TIMES = {
    c.STARORDER_KIND: {".status.notAfter", ".status.endDate", ".status.series.renewAt",
                       ".status.series.notAfter", ".status.series.ariCheckAt",
                       ".status.series.window.end"},
    c.STARCERTIFICATE_KIND: {".status.notAfter", ".status.nextFetch"},
    c.CSRTEMPLATE_KIND: set(),
    c.DELEGATION_KIND: set(),
    c.STARISSUER_KIND: set(),
}
#: The only times a ``date`` column may show: ones already past.
PAST_TIMES = {".metadata.creationTimestamp", ".status.lastFetch", ".status.notBefore",
              ".status.startDate"}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_no_date_column_shows_a_future_time(kind: str) -> None:
    cols = load_all()[kind]["spec"]["versions"][0]["additionalPrinterColumns"]
    dates = {col["jsonPath"] for col in cols if col["type"] == "date"}
    assert not dates & FUTURE_TIMES[kind], kind
    assert dates <= PAST_TIMES, (kind, dates - PAST_TIMES)
    shown = {col["jsonPath"]: col for col in cols}
    for path in FUTURE_TIMES[kind] & set(shown):
        assert shown[path]["type"] == "string", (kind, path)  # RFC 3339 as written


def test_status_fields_written_by_the_code_exist_in_the_schema() -> None:
    """Unknown status fields would be pruned silently by the API server."""
    docs = load_all()
    written = {
        c.STARORDER_KIND: {"phase", "orderURL", "starCertificateURL", "orderState", "accountURL",
                           "csr", "ordered", "startDate", "endDate", "notAfter",
                           "certificateName", "violations", "cancelAttempts", "lastError",
                           "conditions", "observedGeneration"},
        c.STARCERTIFICATE_KIND: {"state", "serial", "notBefore", "notAfter", "dnsNames",
                                 "lastFetch", "nextFetch", "rotations", "failures", "lastError",
                                 "conditions", "observedGeneration"},
        c.CSRTEMPLATE_KIND: {"accountURL", "autoRenewal", "conditions", "observedGeneration"},
        c.DELEGATION_KIND: {"account", "pendingOrders", "conditions", "observedGeneration"},
        c.STARISSUER_KIND: {"accountURL", "delegationURL", "csrTemplate", "cnameMap",
                            "conditions", "observedGeneration"},
    }
    for kind, fields in written.items():
        status = docs[kind]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"][
            "status"]["properties"]
        assert fields <= set(status), (kind, fields - set(status))


def test_staged_key_name_is_a_valid_secret_data_key() -> None:
    import re
    assert re.fullmatch(r"[-._a-zA-Z0-9]+", c.STAGED_KEY)


def test_examples_use_the_crds() -> None:
    examples = Path(__file__).resolve().parents[3] / "examples"
    kinds = set()
    for path in examples.glob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("apiVersion") == c.API_VERSION:
                kinds.add(doc["kind"])
    assert kinds == set(KINDS)
    json.dumps(kinds, default=list)


@pytest.mark.parametrize("kind,field,vocabulary", [
    (c.STARORDER_KIND, "phase", list(c.Phase)),
    (c.STARCERTIFICATE_KIND, "state", list(c.CertState)),
    (c.STARORDER_KIND, "mode", list(c.Mode)),
    (c.STARORDER_KIND, "series.renewBasis", list(c.RenewBasis)),
    (c.CSRTEMPLATE_KIND, "capabilities.mode", [c.Mode.NATIVE, c.Mode.EMULATED]),
])
def test_closed_status_vocabularies_match_the_crd_enums(kind: str, field: str,
                                                        vocabulary: list[Any]) -> None:
    node = load_all()[kind]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"][
        "status"]
    for part in field.split("."):
        node = node["properties"][part]
    assert node["enum"] == [member.value for member in vocabulary]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_condition_status_vocabulary_matches_the_crd_enum(kind: str) -> None:
    status = load_all()[kind]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"][
        "status"]["properties"]
    condition = status["conditions"]["items"]["properties"]
    assert condition["status"]["enum"] == [conditions.TRUE, conditions.FALSE, conditions.UNKNOWN]

"""Every manifest in examples/ (also the ones that cannot run here, examples/public-ca/) fits the
CRDs' schemas and the operator's own checks.

Why: the API server (1.20) prunes fields a structural schema does not know, silently, so a typo
in an example a user copies would become a setting that is not there. This walks each example
object against its CRD's openAPIV3Schema (unknown fields, types, required, oneOf, enum, pattern,
lengths) and then runs the operator's own parsing: a CsrTemplate through ``parse_template``, a
StarOrder through ``build_request`` and its template's bounds, namespaces and CSR checks.
"""
from __future__ import annotations

import datetime
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from star_operator import constants as c
from star_operator.csr_template import check_csr, generate_key_and_csr
from star_operator.ordering import request
from star_operator.ordering.templates import parse_template

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
CRDS = ROOT / "crds"
NOW = datetime.datetime(2026, 8, 1, tzinfo=datetime.timezone.utc)


def _schemas() -> dict[str, dict[str, Any]]:
    out = {}
    for path in CRDS.glob("*.yaml"):
        doc = yaml.safe_load(path.read_text())
        out[doc["spec"]["names"]["kind"]] = doc["spec"]["versions"][0]["schema"][
            "openAPIV3Schema"]
    return out


def _documents() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for path in sorted(EXAMPLES.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("apiVersion") == c.API_VERSION:
                docs.append((f"{path.relative_to(EXAMPLES)}:{doc['kind']}/"
                             f"{doc['metadata']['name']}", doc))
    return docs


TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "integer": int}


def schema_errors(value: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """What the API server would refuse or prune in ``value`` (the keywords the CRDs use)."""
    errors: list[str] = []
    kind = schema.get("type")
    if kind and not (isinstance(value, TYPES[kind]) and not (
            kind == "integer" and isinstance(value, bool))):
        return [f"{path}: expected {kind}, got {type(value).__name__}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} not in {schema['enum']}")
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append(f"{path}: {value!r} does not match {schema['pattern']}")
        if len(value) > schema.get("maxLength", len(value)) or len(value) < schema.get(
                "minLength", 0):
            errors.append(f"{path}: length {len(value)} out of bounds")
        if schema.get("format") == "date-time":
            try:
                datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                errors.append(f"{path}: {value!r} is not a date-time")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0) or len(value) > schema.get(
                "maxItems", len(value)):
            errors.append(f"{path}: {len(value)} items out of bounds")
        for i, item in enumerate(value):
            errors += schema_errors(item, schema.get("items") or {}, f"{path}[{i}]")
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        for name in schema.get("required") or ():
            if name not in value:
                errors.append(f"{path}.{name}: required")
        for variants in [schema.get("oneOf")] + [p.get("oneOf") for p in
                                                 schema.get("allOf") or ()]:
            if variants and sum(all(k in value for k in v.get("required", ())) for v in
                                variants) != 1:
                errors.append(f"{path}: exactly one of {[v['required'] for v in variants]}")
        extra = schema.get("additionalProperties")
        for name, child in value.items():
            if name in props:
                errors += schema_errors(child, props[name], f"{path}.{name}")
            elif isinstance(extra, dict):
                errors += schema_errors(child, extra, f"{path}.{name}")
            elif not schema.get("x-kubernetes-preserve-unknown-fields"):
                errors.append(f"{path}.{name}: not in the schema (would be pruned)")
    return errors


def test_the_validator_catches_what_it_should() -> None:
    schema = _schemas()[c.STARORDER_KIND]
    bad = {"spec": {"csrTemplateName": "t", "dnsNames": ["a.test"], "secretName": "s",
                    "lifetime": "1h", "duration": "1d", "endDate": "2026-01-01T00:00:00Z",
                    "rotationPolicy": "Sometimes", "revokeOnDelet": True}}
    errors = schema_errors(bad, schema)
    assert any("rotationPolicy" in e for e in errors)
    assert any("revokeOnDelet: not in the schema" in e for e in errors)
    assert any("exactly one of" in e for e in errors)


def test_examples_include_a_public_ca_template_and_order() -> None:
    docs = dict(_documents())
    public = {k: d for k, d in docs.items() if k.startswith("public-ca/")}
    template = next(d for d in public.values() if d["kind"] == c.CSRTEMPLATE_KIND)
    assert template["spec"]["acme"]["directoryURL"] == \
        "https://acme-v02.api.letsencrypt.org/directory"
    assert template["spec"]["acme"]["profile"] == "shortlived"
    assert "caBundleSecretRef" not in template["spec"]["acme"]  # system roots
    order = next(d for d in public.values() if d["kind"] == c.STARORDER_KIND)
    assert order["spec"]["csrTemplateName"] == template["metadata"]["name"]
    assert (order["spec"]["lifetime"], order["spec"]["rotationPolicy"],
            order["spec"]["revokeOnDelete"]) == ("160h", "Always", True)


@pytest.mark.parametrize("where,doc", _documents(), ids=[w for w, _ in _documents()])
def test_example_fits_its_crd_schema(where: str, doc: dict[str, Any]) -> None:
    # metadata is the API server's own ObjectMeta, not described by the CRD
    body = {k: v for k, v in doc.items() if k != "metadata"}
    assert schema_errors(body, _schemas()[doc["kind"]]) == [], where


def _templates() -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for _, d in _documents() if d["kind"] == c.CSRTEMPLATE_KIND}


@pytest.mark.parametrize("name", sorted(_templates()))
def test_example_template_parses(name: str) -> None:
    policy = parse_template(_templates()[name], "star-operator")
    assert policy.directory_url.startswith("https://") and policy.rfc2136.tsig_secret_ref.name


ORDERS = [(w, d) for w, d in _documents()
          if d["kind"] == c.STARORDER_KIND and "csrTemplateName" in d["spec"]]


@pytest.mark.parametrize("where,doc", ORDERS, ids=[w for w, _ in ORDERS])
def test_example_order_passes_its_template(where: str, doc: dict[str, Any]) -> None:
    """What the operator checks before any key or CA contact: namespace, STAR bounds, and a
    CSR generated for the order conforming to the template."""
    policy = parse_template(_templates()[doc["spec"]["csrTemplateName"]], "star-operator")
    assert policy.allows_namespace(doc["metadata"]["namespace"]), where
    req = request.build_request(doc["spec"], NOW)
    assert request.check_bounds(req, policy, NOW) == [], where
    generated = generate_key_and_csr(policy.template, policy.domains, req.names, req.key_type,
                                     req.subject)
    assert check_csr(generated.csr, policy.template, policy.domains) == [], where

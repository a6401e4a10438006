"""status.caAccess: what a StarOrder records to cancel without its CsrTemplate, and that the
CRD keeps it (a structural schema prunes status fields it does not declare)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from star_operator.ordering import ca_access
from star_operator.ordering.templates import parse_template
from tests.unit.operator.test_operator_request import TEMPLATE

CRD = Path(__file__).resolve().parents[3] / "crds" / "star.operator.dev_starorders.yaml"


def test_record_resolves_the_secret_references_with_their_defaults() -> None:
    recorded = ca_access.record(parse_template(TEMPLATE, "ops"))
    assert recorded == {
        "directoryURL": "https://ca/directory",
        "accountKeySecretRef": {"namespace": "ops", "name": "acct", "key": "tls.key"},
        "caBundleSecretRef": {"namespace": "x", "name": TEMPLATE["spec"]["acme"]
                              ["caBundleSecretRef"]["name"], "key": "ca.crt"}}


def test_record_without_a_ca_bundle() -> None:
    body: dict[str, Any] = {**TEMPLATE, "spec": {**TEMPLATE["spec"], "acme": {
        k: v for k, v in TEMPLATE["spec"]["acme"].items() if k != "caBundleSecretRef"}}}
    assert ca_access.record(parse_template(body, "ops"))["caBundleSecretRef"] is None


def test_the_crd_declares_every_recorded_field() -> None:
    crd = yaml.safe_load(CRD.read_text())
    status = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
    declared = status["properties"]["caAccess"]["properties"]
    recorded = ca_access.record(parse_template(TEMPLATE, "ops"))
    assert set(recorded) == set(declared)
    for name in ("accountKeySecretRef", "caBundleSecretRef"):
        assert set(recorded["accountKeySecretRef"]) == set(declared[name]["properties"])

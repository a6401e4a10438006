"""Bad manifests are refused by the API server at apply time (the CRD schemas), no operator."""
from __future__ import annotations

import copy
import json
import uuid
from typing import Any

import pytest

from star_devenv.kubectl import Kubectl

pytestmark = pytest.mark.cluster

GOOD_ORDER = {"apiVersion": "star.operator.dev/v1alpha1", "kind": "StarOrder",
              "metadata": {"name": "o", "namespace": "default"},
              "spec": {"csrTemplateName": "t", "dnsNames": ["www.star.test"], "lifetime": "1h",
                       "duration": "1d", "secretName": "o-tls"}}
GOOD_CERT = {"apiVersion": "star.operator.dev/v1alpha1", "kind": "StarCertificate",
             "metadata": {"name": "c", "namespace": "default"},
             "spec": {"starCertificateURL": "https://ca.test/star/1", "secretName": "c-tls"}}


def with_spec(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(base)
    doc["metadata"]["name"] = f"x-{uuid.uuid4().hex[:6]}"
    for key, value in changes.items():
        if value is None:
            doc["spec"].pop(key, None)
        else:
            doc["spec"][key] = value
    return doc


def dry_run(kubectl: Kubectl, doc: dict[str, Any]):
    # --validate=false: the API server (CRD schema), not kubectl, must do the refusing
    return kubectl.run("apply", "--dry-run=server", "--validate=false", "-f", "-",
                       input=json.dumps(doc),
                       check=False)


def test_good_manifests_pass_and_get_defaults(kubectl: Kubectl, crds: None) -> None:
    proc = kubectl.run("apply", "--dry-run=server", "-o", "json", "-f", "-",
                       input=json.dumps(with_spec(GOOD_ORDER)))
    spec = json.loads(proc.stdout)["spec"]
    assert spec["keyType"] == "ecdsa-p256" and spec["secretPolicy"] == "Retain"
    assert dry_run(kubectl, with_spec(GOOD_CERT)).returncode == 0


@pytest.mark.parametrize("changes,field", [
    ({"dnsNames": ["Not A Name"]}, "spec.dnsNames"),
    ({"dnsNames": []}, "spec.dnsNames"),
    ({"keyType": "dsa-1024"}, "spec.keyType"),
    ({"lifetime": "ten minutes"}, "spec.lifetime"),
    ({"lifetime": None}, "spec.lifetime"),
    ({"duration": None}, "spec"),  # neither duration nor endDate (oneOf)
    ({"endDate": "2030-01-01T00:00:00Z"}, "spec"),  # both duration and endDate (oneOf)
    ({"secretPolicy": "Shred"}, "spec.secretPolicy"),
    ({"secretName": "Bad_Name"}, "spec.secretName"),
    ({"csrTemplateName": None}, "spec.csrTemplateName"),
    ({"csr": "MIIB-not-pem"}, "spec.csr"),
    ({"star": "no"}, "spec.star"),
])
def test_bad_star_orders_are_rejected(kubectl: Kubectl, crds: None, changes: dict[str, Any],
                                      field: str) -> None:
    proc = dry_run(kubectl, with_spec(GOOD_ORDER, **changes))
    assert proc.returncode != 0, changes
    assert field in proc.stderr, proc.stderr


@pytest.mark.parametrize("changes,field", [
    ({"starCertificateURL": "http://ca.test/star/1"}, "spec.starCertificateURL"),
    ({"secretName": None}, "spec.secretName"),
    ({"dnsNames": ["bad..name"]}, "spec.dnsNames"),
])
def test_bad_star_certificates_are_rejected(kubectl: Kubectl, crds: None,
                                            changes: dict[str, Any], field: str) -> None:
    proc = dry_run(kubectl, with_spec(GOOD_CERT, **changes))
    assert proc.returncode != 0 and field in proc.stderr, proc.stderr


def test_bad_csr_template_is_rejected(kubectl: Kubectl, crds: None) -> None:
    doc = {"apiVersion": "star.operator.dev/v1alpha1", "kind": "CsrTemplate",
           "metadata": {"name": f"bad-{uuid.uuid4().hex[:6]}"},
           "spec": {"template": {"keyTypes": [], "extensions": {}}, "domains": ["star.test"],
                    "allowedNamespaces": ["*"],
                    "acme": {"directoryURL": "http://plain/directory",
                             "accountKeySecretRef": {"name": "a"}},
                    "dns01": {"rfc2136": {"nameserver": "127.0.0.1:53", "tsigKeyName": "k",
                                          "tsigAlgorithm": "rot13",
                                          "tsigSecretSecretRef": {"name": "t"}}},
                    "caa": {"publish": True, "ttl": 0, "checkInterval": "often"}}}
    proc = dry_run(kubectl, doc)
    assert proc.returncode != 0
    for field in ("spec.template.keyTypes", "spec.template.extensions.subjectAltName",
                  "spec.acme.directoryURL", "spec.dns01.rfc2136.tsigAlgorithm",
                  "spec.caa.ttl", "spec.caa.checkInterval"):
        assert field in proc.stderr, (field, proc.stderr)

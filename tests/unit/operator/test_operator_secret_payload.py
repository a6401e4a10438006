"""The TLS Secret body: cert-manager layout, foreign data kept, staged key handled."""
from __future__ import annotations

import datetime

from star_operator import constants as c
from star_operator.secrets import payload
from star_operator.verify import VerifiedCertificate

NB = datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)


def verified() -> VerifiedCertificate:
    return VerifiedCertificate(chain=[], serial="abc123", not_before=NB,
                               not_after=NB + datetime.timedelta(seconds=60),
                               dns_names=["www.star.test", "cdn.star.test"],
                               common_name="www.star.test")


def test_tls_data_has_the_three_keys() -> None:
    data = payload.tls_data(payload.TlsMaterial(b"CHAIN", b"KEY", b"CA"))
    assert {k: payload.unb64(v) for k, v in data.items()} == {
        "tls.crt": b"CHAIN", "tls.key": b"KEY", "ca.crt": b"CA"}
    assert "ca.crt" not in payload.tls_data(payload.TlsMaterial(b"C", b"K"))


def test_annotations_are_cert_manager_compatible() -> None:
    who = payload.SecretIdentity("web", issuer_name="dno", star_certificate_url="https://x/1")
    ann = payload.certificate_annotations(verified(), who)
    assert ann["cert-manager.io/certificate-name"] == "web"
    assert ann["cert-manager.io/issuer-name"] == "dno"
    assert ann["cert-manager.io/issuer-kind"] == "CsrTemplate"
    assert ann["cert-manager.io/issuer-group"] == "star.operator.dev"
    assert ann["cert-manager.io/common-name"] == "www.star.test"
    assert ann["cert-manager.io/alt-names"] == "www.star.test,cdn.star.test"
    assert ann[c.SERIAL_ANNOTATION] == "abc123"
    assert ann[c.NOT_AFTER_ANNOTATION] == "2030-01-01T00:01:00Z"
    assert ann[c.STAR_URL_ANNOTATION] == "https://x/1"


def test_new_secret_is_tls_typed_and_labelled() -> None:
    body = payload.secret_body(None, namespace="ns", name="s", data={c.STAGED_KEY: "a2V5"})
    assert body["type"] == "kubernetes.io/tls"
    assert body["metadata"]["labels"][c.MANAGED_BY_LABEL] == c.MANAGED_BY_VALUE
    # the API server demands both keys on a TLS Secret; empty until the first certificate
    assert body["data"] == {c.STAGED_KEY: "a2V5", "tls.crt": "", "tls.key": ""}
    assert payload.is_managed(body)


def test_existing_secret_keeps_foreign_fields_and_resource_version() -> None:
    existing = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                "metadata": {"name": "s", "namespace": "ns", "resourceVersion": "42",
                             "labels": {"team": "edge"}, "annotations": {"reloader": "x"},
                             "managedFields": [{"manager": "kubectl"}]},
                "data": {"extra": "eA==", c.STAGED_KEY: "a2V5", "tls.crt": "", "tls.key": ""}}
    body = payload.secret_body(existing, namespace="ns", name="s",
                               data=payload.tls_data(payload.TlsMaterial(b"C", b"K")),
                               annotations={"cert-manager.io/certificate-name": "web"})
    meta = body["metadata"]
    assert meta["resourceVersion"] == "42"  # makes the PUT conditional
    assert "managedFields" not in meta
    assert meta["labels"]["team"] == "edge" and meta["annotations"]["reloader"] == "x"
    assert meta["annotations"]["cert-manager.io/certificate-name"] == "web"
    assert body["data"]["extra"] == "eA=="
    assert c.STAGED_KEY not in body["data"]  # moved into tls.key in the same write
    assert payload.unb64(body["data"]["tls.key"]) == b"K"
    assert existing["data"][c.STAGED_KEY] == "a2V5"  # input untouched


def test_data_equal_detects_noop_writes() -> None:
    a = payload.secret_body(None, namespace="n", name="s", data={"tls.crt": "QQ=="})
    assert payload.data_equal(a, payload.secret_body(a, namespace="n", name="s",
                                                     data={"tls.crt": "QQ=="}))
    assert not payload.data_equal(a, payload.secret_body(a, namespace="n", name="s",
                                                         data={"tls.crt": "Qg=="}))
    assert not payload.data_equal(None, a)


def test_read_key_prefers_the_staged_key() -> None:
    secret = {"data": {"tls.key": payload.b64(b"OLD"), c.STAGED_KEY: payload.b64(b"NEW")}}
    assert payload.read_key(secret) == b"NEW"
    assert payload.read_key({"data": {"tls.key": payload.b64(b"OLD")}}) == b"OLD"
    assert payload.read_key(None) == b""

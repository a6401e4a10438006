"""A certificate-only Secret payload (spec.csr: the key is elsewhere): never a key in it."""
from __future__ import annotations

from star_operator import constants as c
from star_operator.secrets import payload


def test_certificate_only_data_has_no_key() -> None:
    material = payload.TlsMaterial(b"CHAIN", None, b"CA")
    assert material.certificate_only
    data = payload.tls_data(material)
    assert {k: payload.unb64(v) for k, v in data.items()} == {"tls.crt": b"CHAIN",
                                                              "ca.crt": b"CA"}


def test_a_new_certificate_only_secret_is_opaque_with_no_key_field() -> None:
    body = payload.secret_body(None, namespace="ns", name="s",
                               data=payload.tls_data(payload.TlsMaterial(b"C", None, b"CA")),
                               drop_keys=payload.KEY_FIELDS, secret_type=payload.OPAQUE_TYPE)
    assert body["type"] == "Opaque"
    assert set(body["data"]) == {c.TLS_CRT, c.CA_CRT}


def test_a_certificate_only_write_removes_any_key_the_secret_held() -> None:
    existing = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                "metadata": {"name": "s", "namespace": "ns", "resourceVersion": "7"},
                "data": {c.TLS_CRT: payload.b64(b"OLD"), c.TLS_KEY: payload.b64(b"OLDKEY"),
                         c.STAGED_KEY: payload.b64(b"STAGED"), "other": "eA=="}}
    body = payload.secret_body(existing, namespace="ns", name="s",
                               data=payload.tls_data(payload.TlsMaterial(b"NEW", None)),
                               drop_keys=payload.KEY_FIELDS, secret_type=payload.OPAQUE_TYPE)
    assert body["type"] == "kubernetes.io/tls"  # a type cannot change ...
    assert body["data"][c.TLS_KEY] == ""        # ... so its tls.key stays, empty
    assert c.STAGED_KEY not in body["data"]
    assert payload.unb64(body["data"][c.TLS_CRT]) == b"NEW"
    assert body["data"]["other"] == "eA=="      # foreign data kept
    assert body["metadata"]["resourceVersion"] == "7"  # still a conditional write

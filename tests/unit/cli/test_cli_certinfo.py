"""Decoding a TLS Secret for ``kubectl star inspect secret`` (no cluster)."""
from __future__ import annotations

import base64
import datetime
import hashlib

from cli_pki import NOW, cert_pem, chain, key_pem
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from star_operator.cli import certinfo, inspect_secret


def _secret(data: dict[str, bytes], annotations: dict[str, str] | None = None) -> dict:
    return {"metadata": {"name": "web-tls", "namespace": "shop",
                         "annotations": annotations or {}},
            "type": "kubernetes.io/tls",
            "data": {k: base64.b64encode(v).decode() for k, v in data.items()}}


def test_chain_names_serial_validity_issuer_key_type_and_fingerprint() -> None:
    leaf, root, leaf_key, _ = chain(["www.example.test", "cdn.example.test"], serial=0xBEEF01)
    out = certinfo.decode_secret({"tls.crt": cert_pem(leaf) + cert_pem(root),
                                  "tls.key": key_pem(leaf_key), "ca.crt": cert_pem(root)}, NOW)
    first, second = out["certificates"]
    assert first["dnsNames"] == ["www.example.test", "cdn.example.test"]
    assert first["serial"] == "beef01"
    assert first["notAfter"] == "2030-01-01T01:00:00Z" and first["secondsLeft"] == 3600
    assert first["notBefore"] == "2029-12-31T23:59:00Z" and not first["expired"]
    assert first["issuer"] == "CN=Test Root" and first["subject"] == "CN=www.example.test"
    assert first["keyType"] == "ECDSA P-256" and second["keyType"] == "RSA 3072"
    der = leaf.public_bytes(serialization.Encoding.DER)
    assert first["sha256Fingerprint"].replace(":", "").lower() == hashlib.sha256(der).hexdigest()
    assert second["selfSigned"] and second["isCA"] and not first["isCA"]
    assert out["key"] == {"type": "ECDSA P-256", "matchesLeaf": True}
    assert [c["serial"] for c in out["ca"]] == ["1"] and out["problems"] == []


def test_a_key_of_another_certificate_does_not_match() -> None:
    leaf, root, _, _ = chain(["www.example.test"])
    other = ec.generate_private_key(ec.SECP384R1())
    out = certinfo.decode_secret({"tls.crt": cert_pem(leaf), "tls.key": key_pem(other)}, NOW)
    assert out["key"] == {"type": "ECDSA P-384", "matchesLeaf": False}
    text = "\n".join(inspect_secret.text(inspect_secret.build(
        _secret({"tls.crt": cert_pem(leaf), "tls.key": key_pem(other)}), NOW), NOW))
    assert "DOES NOT match the leaf certificate" in text


def test_expired_leaf_and_chain_out_of_order() -> None:
    leaf, root, leaf_key, _ = chain(["old.example.test"], lifetime_s=10)
    later = NOW + datetime.timedelta(seconds=70)
    out = certinfo.decode_secret({"tls.crt": cert_pem(root) + cert_pem(leaf)}, later)
    assert out["certificates"][1]["expired"] and out["certificates"][1]["secondsLeft"] == -60
    assert any("out of order" in p for p in out["problems"])


def test_staged_key_and_empty_certificate_say_the_first_is_being_ordered() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    report = inspect_secret.build(_secret({"tls.crt": b"", "tls.key": b"",
                                           "staged-tls.key": key_pem(key)}), NOW)
    assert report["certificates"] == [] and report["key"] is None and report["stagedKey"]
    text = "\n".join(inspect_secret.text(report, NOW))
    assert "no certificate yet" in text and "staged-tls.key" in text


def test_garbage_is_a_problem_not_a_crash() -> None:
    out = certinfo.decode_secret({"tls.crt": b"not pem", "tls.key": b"nor this"}, NOW)
    assert out["certificates"] == [] and out["problems"][0].startswith("tls.crt:")
    assert out["key"]["matchesLeaf"] is False and "error" in out["key"]


def test_text_shows_every_certificate_and_only_the_relevant_annotations() -> None:
    leaf, root, leaf_key, _ = chain(["www.example.test"], serial=0x1F)
    secret = _secret({"tls.crt": cert_pem(leaf) + cert_pem(root), "tls.key": key_pem(leaf_key)},
                     {"star.operator.dev/serial": "1f", "cert-manager.io/alt-names":
                      "www.example.test", "kubectl.kubernetes.io/last-applied-configuration": "{}"})
    report = inspect_secret.build(secret, NOW)
    assert report["annotations"] == {"cert-manager.io/alt-names": "www.example.test",
                                     "star.operator.dev/serial": "1f"}
    lines = inspect_secret.text(report, NOW)
    text = "\n".join(lines)
    assert "Certificate 1/2 (leaf):" in text and "Certificate 2/2 (root):" in text
    assert "matches the leaf certificate" in text
    serial_line = next(line for line in lines if line.strip().startswith("Serial:"))
    assert serial_line.split() == ["Serial:", "1f"]
    not_after = next(line for line in lines if line.strip().startswith("Not after:"))
    assert "2030-01-01T01:00:00Z (1h left)" in not_after
    assert "last-applied" not in text
    # values aligned in one column within a certificate block
    block = lines[lines.index("Certificate 1/2 (leaf):") + 1:][:8]
    assert len({len(line) - len(line.split(":", 1)[1].lstrip()) for line in block}) == 1

"""Decoding a ``kubernetes.io/tls`` Secret's certificates and key (pure: no API access)."""
from __future__ import annotations

import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

from star_operator import pem, timeutil
from star_operator.verify import serial_hex

_CURVES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}


def key_type(key: Any) -> str:
    """``ECDSA P-256``, ``RSA 2048``, ``Ed25519`` ... for a public or private key."""
    if isinstance(key, (ec.EllipticCurvePublicKey, ec.EllipticCurvePrivateKey)):
        return f"ECDSA {_CURVES.get(key.curve.name, key.curve.name)}"
    if isinstance(key, (rsa.RSAPublicKey, rsa.RSAPrivateKey)):
        return f"RSA {key.key_size}"
    if isinstance(key, (ed25519.Ed25519PublicKey, ed25519.Ed25519PrivateKey)):
        return "Ed25519"
    if isinstance(key, (ed448.Ed448PublicKey, ed448.Ed448PrivateKey)):
        return "Ed448"
    if isinstance(key, (dsa.DSAPublicKey, dsa.DSAPrivateKey)):
        return f"DSA {key.key_size}"
    return type(key).__name__


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 over the DER, colon-separated upper-case hex (``openssl x509 -fingerprint``)."""
    return ":".join(f"{b:02X}" for b in cert.fingerprint(hashes.SHA256()))


def san_names(cert: x509.Certificate) -> list[str]:
    """DNS names, then IP addresses, URIs and e-mail addresses of the SAN extension."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return ([*san.get_values_for_type(x509.DNSName)]
            + [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
            + [*san.get_values_for_type(x509.UniformResourceIdentifier)]
            + [*san.get_values_for_type(x509.RFC822Name)])


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def describe(cert: x509.Certificate, now: datetime.datetime) -> dict[str, Any]:
    not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
    return {
        "subject": cert.subject.rfc4514_string(),
        "dnsNames": san_names(cert),
        "serial": serial_hex(cert),
        "notBefore": timeutil.format_time(not_before),
        "notAfter": timeutil.format_time(not_after),
        "secondsLeft": int((not_after - now).total_seconds()),
        "expired": now >= not_after,
        "issuer": cert.issuer.rfc4514_string(),
        "selfSigned": cert.issuer == cert.subject,
        "isCA": _is_ca(cert),
        "keyType": key_type(cert.public_key()),
        "sha256Fingerprint": fingerprint(cert),
    }


def decode_secret(data: dict[str, bytes], now: datetime.datetime | None = None
                  ) -> dict[str, Any]:
    """What ``inspect secret`` reports about tls.crt / tls.key / ca.crt (decoded bytes)."""
    now = now or timeutil.utcnow()
    out: dict[str, Any] = {"certificates": [], "key": None, "ca": [], "problems": []}
    chain: list[x509.Certificate] = []
    crt = data.get("tls.crt") or b""
    if crt.strip():
        try:
            chain = pem.load_chain(crt)
        except pem.PemError as exc:
            out["problems"].append(f"tls.crt: {exc}")
    out["certificates"] = [describe(cert, now) for cert in chain]
    for i, cert in enumerate(chain[:-1]):  # each issued by the next one, in order
        if cert.issuer != chain[i + 1].subject:
            out["problems"].append(f"tls.crt: certificate {i + 1}'s issuer is not the subject "
                                   f"of certificate {i + 2} (chain out of order)")
    key = data.get("tls.key") or b""
    if key.strip():
        try:
            private = pem.load_private_key(key)
        except pem.PemError as exc:
            out["key"] = {"type": None, "matchesLeaf": False, "error": str(exc)}
        else:
            matches = bool(chain) and (pem.spki_der(private.public_key())
                                       == pem.spki_der(chain[0].public_key()))
            out["key"] = {"type": key_type(private), "matchesLeaf": matches if chain else None}
    ca = data.get("ca.crt") or b""
    if ca.strip():
        try:
            out["ca"] = [describe(cert, now) for cert in pem.load_chain(ca)]
        except pem.PemError as exc:
            out["problems"].append(f"ca.crt: {exc}")
    return out

"""Key generation and the key-strength policy shared by CA keys and CSR keys."""
from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import (CertificateIssuerPrivateKeyTypes,
                                                             CertificatePublicKeyTypes)

CURVES: dict[str, ec.EllipticCurve] = {
    "ecdsa-p256": ec.SECP256R1(), "ecdsa-p384": ec.SECP384R1()}
ALLOWED_CURVES = ("secp256r1", "secp384r1", "secp521r1")
MIN_RSA_BITS = 2048
MAX_RSA_BITS = 8192


def generate_key(key_type: str) -> CertificateIssuerPrivateKeyTypes:
    """A new private key of one of config.KEY_TYPES."""
    if key_type in CURVES:
        return ec.generate_private_key(CURVES[key_type])
    if key_type.startswith("rsa-"):
        return rsa.generate_private_key(65537, int(key_type[4:]))
    raise ValueError(f"unknown key type {key_type!r}")


def key_problem(key: CertificatePublicKeyTypes) -> str | None:
    """Why ``key`` is not acceptable for a certificate, or None if it is."""
    if isinstance(key, rsa.RSAPublicKey):
        if not MIN_RSA_BITS <= key.key_size <= MAX_RSA_BITS:
            return f"RSA key of {key.key_size} bits; need {MIN_RSA_BITS}..{MAX_RSA_BITS}"
        if key.public_numbers().e != 65537:
            return "RSA public exponent must be 65537"
        return None
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in ALLOWED_CURVES:
            return f"EC curve {key.curve.name} not allowed; use P-256, P-384 or P-521"
        return None
    return f"unsupported key type {type(key).__name__}; use ECDSA or RSA"


def signature_hash(key: CertificateIssuerPrivateKeyTypes) -> hashes.SHA256 | hashes.SHA384:
    """SHA-384 for P-384 signers, SHA-256 otherwise (CA/B Forum-compatible pairs)."""
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size >= 384:
        return hashes.SHA384()
    return hashes.SHA256()

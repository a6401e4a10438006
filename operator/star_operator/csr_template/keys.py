"""Key types: what a CSR's SPKI and signature are in the template's terms, and how to make them.

The checker needs "which ``keyTypes`` entry does this CSR fit", the generator needs "make a key and
signature that fit this entry"; both go through the same names so a generated CSR always checks.
RSASSA-PSS is only accepted with the RFC's parameters (MGF1 with the same hash, salt = digest
length); those are confirmed by verifying the signature with exactly those parameters through
cryptography's public API rather than by reading the DER.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import SignatureAlgorithmOID

from .model import KeyType
from .vocab import CURVES, EC, ECDSA_SIGNATURES, RSA, RSA_SIGNATURES, Sha2

# The key type names of the public API (docs/INTERFACES.md) -> (PublicKeyType, bits or curve).
KEY_TYPE_NAMES: dict[str, tuple[str, int | str]] = {
    "ecdsa-p256": (EC, "secp256r1"),
    "ecdsa-p384": (EC, "secp384r1"),
    "ecdsa-p521": (EC, "secp521r1"),
    "rsa-2048": (RSA, 2048),
    "rsa-3072": (RSA, 3072),
    "rsa-4096": (RSA, 4096),
}

_SIGNATURE_OIDS: dict[x509.ObjectIdentifier, str] = {
    SignatureAlgorithmOID.RSA_WITH_SHA256: "sha256WithRSAEncryption",
    SignatureAlgorithmOID.RSA_WITH_SHA384: "sha384WithRSAEncryption",
    SignatureAlgorithmOID.RSA_WITH_SHA512: "sha512WithRSAEncryption",
    SignatureAlgorithmOID.ECDSA_WITH_SHA256: "ecdsa-with-SHA256",
    SignatureAlgorithmOID.ECDSA_WITH_SHA384: "ecdsa-with-SHA384",
    SignatureAlgorithmOID.ECDSA_WITH_SHA512: "ecdsa-with-SHA512",
}


@dataclass(frozen=True)
class PublicKeyInfo:
    """A CSR's SPKI in template terms; ``size`` is RSA bits or an EC curve name."""

    public_key_type: str
    size: int | str | None = None

    def describe(self) -> str:
        return f"{self.public_key_type} {self.size}" if self.size is not None \
            else self.public_key_type


def public_key_info(key: object) -> PublicKeyInfo:
    """Name the public key the way ``keyTypes`` does (unknown kinds by their class name)."""
    if isinstance(key, rsa.RSAPublicKey):
        return PublicKeyInfo(RSA, key.key_size)
    if isinstance(key, ec.EllipticCurvePublicKey):
        return PublicKeyInfo(EC, key.curve.name)
    return PublicKeyInfo(type(key).__name__.lstrip("_"))


def signature_type(csr: x509.CertificateSigningRequest) -> str:
    """The template ``SignatureType`` name of the CSR's signature, or a description if none fits."""
    oid = csr.signature_algorithm_oid
    if oid in _SIGNATURE_OIDS:
        return _SIGNATURE_OIDS[oid]
    if oid == SignatureAlgorithmOID.RSASSA_PSS:
        return _pss_signature_type(csr)
    return f"signature algorithm {oid.dotted_string}"


def _pss_signature_type(csr: x509.CertificateSigningRequest) -> str:
    unsupported = "rsassaPss with unsupported parameters"
    try:
        digest = csr.signature_hash_algorithm
        key = csr.public_key()
    except (UnsupportedAlgorithm, ValueError):
        return unsupported
    name = f"{digest.name}WithRSAandMGF1" if digest is not None else ""
    if name not in RSA_SIGNATURES or not isinstance(key, rsa.RSAPublicKey):
        return unsupported
    sha = RSA_SIGNATURES[name][0]
    try:
        key.verify(csr.signature, csr.tbs_certrequest_bytes, _pss(sha), sha)
    except InvalidSignature:  # wrong MGF hash or salt length (or a bad signature, reported apart)
        return f"rsassaPss with {sha.name} but not MGF1-{sha.name} and a " \
               f"{sha.digest_size}-byte salt"
    return name


def _pss(digest: Sha2) -> padding.PSS:
    """RFC 9115 Appendix A: MGF-1 with the same hash and a salt as long as the digest."""
    return padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)


def key_type_matches(entry: KeyType, key: PublicKeyInfo, sig: str | None = None) -> bool:
    """True if the SPKI (and, when given, the signature type) is what ``entry`` allows."""
    size = entry.length if entry.public_key_type == RSA else entry.curve
    if (entry.public_key_type, size) != (key.public_key_type, key.size):
        return False
    return sig is None or sig == entry.signature_type


def generate_private_key(name: str) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    """A fresh key for one of KEY_TYPE_NAMES (the caller has checked the name)."""
    kind, size = KEY_TYPE_NAMES[name]
    if kind == RSA:
        return rsa.generate_private_key(public_exponent=65537, key_size=int(size))
    return ec.generate_private_key(CURVES[str(size)]())


def signing_parameters(signature: str) -> tuple[Sha2, padding.PSS | None]:
    """Hash and RSA padding with which ``CertificateSigningRequestBuilder.sign`` emits it."""
    if signature in ECDSA_SIGNATURES:
        return ECDSA_SIGNATURES[signature], None
    digest, pss = RSA_SIGNATURES[signature]
    return digest, (_pss(digest) if pss else None)

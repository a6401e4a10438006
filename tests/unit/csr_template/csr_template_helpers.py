"""Shared helpers for the CSR template tests: a free-form CSR builder and cached keys.

The builder exists so that check tests can produce CSRs the generator would never make (wrong
curve, extra extension, PKCS#9 attributes, tampered signature) with cryptography, not DER by hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

RFC_EXAMPLE_JSON = """
{"keyTypes":[{"PublicKeyType":"rsaEncryption","PublicKeyLength":2048,
              "SignatureType":"sha256WithRSAEncryption"},
             {"PublicKeyType":"id-ecPublicKey","namedCurve":"secp256r1",
              "SignatureType":"ecdsa-with-SHA256"}],
 "subject":{"country":"CA","stateOrProvince":"**","locality":"**"},
 "extensions":{"subjectAltName":{"DNS":["abc.ido.example"]},
               "keyUsage":["digitalSignature"],"extendedKeyUsage":["serverAuth","clientAuth"]}}
"""


@lru_cache(maxsize=None)
def key(name: str) -> Any:
    """Private keys are slow to make (RSA); one per kind is enough for the whole session."""
    if name.startswith("rsa-"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(name[4:]))
    if name == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    curves = {"p256": ec.SECP256R1(), "p384": ec.SECP384R1(), "p521": ec.SECP521R1()}
    return ec.generate_private_key(curves[name.split("-")[1]])


def build_csr(*, key_name: str = "ecdsa-p256",
              subject: Sequence[tuple[x509.ObjectIdentifier, str]] = (),
              sans: Sequence[x509.GeneralName] | None = (),
              key_usage: Sequence[str] | None = None,
              eku: Sequence[x509.ObjectIdentifier] | None = None,
              extra: Sequence[x509.ExtensionType] = (),
              attributes: Sequence[tuple[x509.ObjectIdentifier, bytes]] = (),
              digest: hashes.SHA256 | hashes.SHA384 | hashes.SHA512 | None = None,
              rsa_padding: padding.PSS | None = None,
              tamper: bool = False) -> x509.CertificateSigningRequest:
    """A CSR exactly as described; ``sans=None`` leaves the SAN extension out entirely."""
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(oid, value) for oid, value in subject]))
    if sans is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
    if key_usage is not None:
        flags = {f: False for f in ("digital_signature", "content_commitment", "key_encipherment",
                                    "data_encipherment", "key_agreement", "key_cert_sign",
                                    "crl_sign", "encipher_only", "decipher_only")}
        flags.update({f: True for f in key_usage})
        builder = builder.add_extension(x509.KeyUsage(**flags), critical=True)
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    for ext in extra:
        builder = builder.add_extension(ext, critical=False)
    for oid, value in attributes:
        builder = builder.add_attribute(oid, value)
    private = key(key_name)
    if key_name == "ed25519":
        csr = builder.sign(private, None)
    else:
        csr = builder.sign(private, digest or hashes.SHA256(), rsa_padding=rsa_padding)
    if tamper:
        der = bytearray(csr.public_bytes(Encoding.DER))
        der[-3] ^= 0x01  # inside the signature value
        csr = x509.load_der_x509_csr(bytes(der))
    return csr


# the X.500 attribute abbreviations (O is the organization, as in every DN)
C, ST, L, O, CN = (NameOID.COUNTRY_NAME, NameOID.STATE_OR_PROVINCE_NAME,  # noqa: E741
                   NameOID.LOCALITY_NAME, NameOID.ORGANIZATION_NAME, NameOID.COMMON_NAME)

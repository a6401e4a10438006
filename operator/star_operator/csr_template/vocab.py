"""The RFC 9115 §4 / Appendix A vocabulary and its X.509 counterpart in ``cryptography``.

The template speaks in names (``country``, ``digitalSignature``, ``serverAuth``,
``sha256WithRSAandMGF1``); CSRs speak in OIDs and flags. Keeping both directions of that mapping in
one table stops the loader, the checker and the generator from drifting apart.
"""

from __future__ import annotations

import re

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

MANDATORY = "**"
"""Template value: the field must be present, the client chooses its value."""
OPTIONAL = "*"
"""Template value: the field may be present, the client chooses its value."""
PLACEHOLDERS = frozenset({MANDATORY, OPTIONAL})

RSA = "rsaEncryption"
EC = "id-ecPublicKey"
MIN_RSA_BITS = 2048
"""Appendix A: ``rsaKeySize = uint .ge 2048``."""

# Subject attributes in the order a generated CSR lists them (the usual C, ST, L, O, OU, CN).
SUBJECT_ATTRIBUTES: dict[str, x509.ObjectIdentifier] = {
    "country": NameOID.COUNTRY_NAME,
    "stateOrProvince": NameOID.STATE_OR_PROVINCE_NAME,
    "locality": NameOID.LOCALITY_NAME,
    "organization": NameOID.ORGANIZATION_NAME,
    "organizationalUnit": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "commonName": NameOID.COMMON_NAME,
    "emailAddress": NameOID.EMAIL_ADDRESS,
}
SUBJECT_NAMES_BY_OID = {oid: name for name, oid in SUBJECT_ATTRIBUTES.items()}

# RFC 5280 §4.2.1.3 names -> attribute of cryptography's x509.KeyUsage.
KEY_USAGES: dict[str, str] = {
    "digitalSignature": "digital_signature",
    "nonRepudiation": "content_commitment",
    "keyEncipherment": "key_encipherment",
    "dataEncipherment": "data_encipherment",
    "keyAgreement": "key_agreement",
    "keyCertSign": "key_cert_sign",
    "cRLSign": "crl_sign",
    "encipherOnly": "encipher_only",
    "decipherOnly": "decipher_only",
}

EXTENDED_KEY_USAGES: dict[str, x509.ObjectIdentifier] = {
    "serverAuth": ExtendedKeyUsageOID.SERVER_AUTH,
    "clientAuth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "codeSigning": ExtendedKeyUsageOID.CODE_SIGNING,
    "emailProtection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "timeStamping": ExtendedKeyUsageOID.TIME_STAMPING,
    "OCSPSigning": ExtendedKeyUsageOID.OCSP_SIGNING,
}
_EKU_NAMES_BY_OID = {oid: name for name, oid in EXTENDED_KEY_USAGES.items()}
_OID_TEXT = re.compile(r"[0-2](?:\.0|\.[1-9][0-9]*)+")  # Appendix A `oid`, needing >= 2 arcs

CURVES: dict[str, type[ec.EllipticCurve]] = {
    "secp256r1": ec.SECP256R1,
    "secp384r1": ec.SECP384R1,
    "secp521r1": ec.SECP521R1,
}

Sha2 = hashes.SHA256 | hashes.SHA384 | hashes.SHA512
_SHA: dict[str, Sha2] = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(),
                         "sha512": hashes.SHA512()}
# SignatureType -> (hash, uses RSASSA-PSS with MGF1(same hash) and salt = digest length).
RSA_SIGNATURES: dict[str, tuple[Sha2, bool]] = {
    **{f"{sha}WithRSAEncryption": (alg, False) for sha, alg in _SHA.items()},
    **{f"{sha}WithRSAandMGF1": (alg, True) for sha, alg in _SHA.items()},
}
ECDSA_SIGNATURES: dict[str, Sha2] = {
    f"ecdsa-with-SHA{sha[3:]}": alg for sha, alg in _SHA.items()
}


def eku_oid(value: str) -> x509.ObjectIdentifier | None:
    """The OID for a template ``extendedKeyUsage`` entry (a name or dotted OID), else None."""
    if value in EXTENDED_KEY_USAGES:
        return EXTENDED_KEY_USAGES[value]
    if _OID_TEXT.fullmatch(value):
        try:
            return x509.ObjectIdentifier(value)
        except ValueError:  # e.g. a second arc above 39 under arc 0 or 1
            return None
    return None


def eku_label(oid: x509.ObjectIdentifier) -> str:
    """How a message should name an extended key usage: the RFC name if it has one."""
    return _EKU_NAMES_BY_OID.get(oid, oid.dotted_string)

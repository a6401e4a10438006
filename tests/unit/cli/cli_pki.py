"""A root → leaf chain for the CLI's decoding tests (cryptography only)."""
from __future__ import annotations

import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

NOW = datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)


def key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def chain(names: list[str], *, serial: int = 0xABC123, lifetime_s: int = 3600):
    """(leaf, root, leaf key, root key): an RSA-3072 root signing a P-256 leaf for ``names``."""
    root_key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    root = (x509.CertificateBuilder().subject_name(_name("Test Root")).issuer_name(
        _name("Test Root")).public_key(root_key.public_key()).serial_number(1)
        .not_valid_before(NOW - datetime.timedelta(days=1))
        .not_valid_after(NOW + datetime.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(root_key, hashes.SHA256()))
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder().subject_name(_name(names[0])).issuer_name(root.subject)
            .public_key(leaf_key.public_key()).serial_number(serial)
            .not_valid_before(NOW - datetime.timedelta(seconds=60))
            .not_valid_after(NOW + datetime.timedelta(seconds=lifetime_s))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(root_key, hashes.SHA256()))
    return leaf, root, leaf_key, root_key

"""Tiny test PKI (root → intermediate → leaf) built with cryptography, for verifier tests."""
from __future__ import annotations

import datetime
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

NOW = datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)


def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(k: ec.EllipticCurvePrivateKey) -> bytes:
    return k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                           serialization.NoEncryption())


def cert_pem(c: x509.Certificate) -> bytes:
    return c.public_bytes(serialization.Encoding.PEM)


def issue(subject_cn: str, subject_key, issuer_cert: x509.Certificate | None, issuer_key, *,
          ca: bool, names: list[str] = (), not_before: datetime.datetime = NOW,
          lifetime: datetime.timedelta = datetime.timedelta(days=1)) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)])
    builder = (x509.CertificateBuilder().subject_name(name)
               .issuer_name(issuer_cert.subject if issuer_cert else name)
               .public_key(subject_key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(not_before).not_valid_after(not_before + lifetime)
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@dataclass
class Pki:
    root_key: ec.EllipticCurvePrivateKey
    root: x509.Certificate
    inter_key: ec.EllipticCurvePrivateKey
    inter: x509.Certificate

    @classmethod
    def create(cls) -> "Pki":
        rk = key()
        root = issue("Test Root", rk, None, rk, ca=True,
                     not_before=NOW - datetime.timedelta(days=30),
                     lifetime=datetime.timedelta(days=3650))
        ik = key()
        inter = issue("Test Intermediate", ik, root, rk, ca=True,
                      not_before=NOW - datetime.timedelta(days=30),
                      lifetime=datetime.timedelta(days=365))
        return cls(rk, root, ik, inter)

    def leaf(self, names: list[str], leaf_key=None, **kw) -> tuple[bytes, bytes]:
        """(chain PEM leaf+intermediate, key PEM)."""
        leaf_key = leaf_key or key()
        leaf = issue(names[0], leaf_key, self.inter, self.inter_key, ca=False, names=names, **kw)
        return cert_pem(leaf) + cert_pem(self.inter), key_pem(leaf_key)

    @property
    def root_pem(self) -> bytes:
        return cert_pem(self.root)

"""Tiny test PKI (root → intermediate → leaf) built with cryptography, for verifier tests.

Certificates follow the Web PKI profile a real CA issues (SKI/AKI, critical basicConstraints,
keyUsage, serverAuth EKU on leaves); the keyword arguments of :func:`issue` break one property
at a time for the refusal tests.
"""
from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)
SERVER_AUTH = (ExtendedKeyUsageOID.SERVER_AUTH,)
_DEFAULT = object()


def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(k: ec.EllipticCurvePrivateKey) -> bytes:
    return k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                           serialization.NoEncryption())


def cert_pem(c: x509.Certificate) -> bytes:
    return c.public_bytes(serialization.Encoding.PEM)


def _key_usage(*, signature: bool, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=signature, content_commitment=False,
                         key_encipherment=False, data_encipherment=False, key_agreement=False,
                         key_cert_sign=cert_sign, crl_sign=cert_sign, encipher_only=False,
                         decipher_only=False)


def issue(subject_cn: str, subject_key, issuer_cert: x509.Certificate | None, issuer_key, *,
          ca: bool, names: Sequence[str] = (), not_before: datetime.datetime = NOW,
          lifetime: datetime.timedelta = datetime.timedelta(days=1),
          path_length: int | None = None, basic_constraints: bool = True,
          key_cert_sign: bool = True, authority_key_id: bool = True,
          eku: Sequence[x509.ObjectIdentifier] | None | object = _DEFAULT) -> x509.Certificate:
    """One certificate; ``issuer_cert=None`` makes it self-signed by ``issuer_key``.

    ``basic_constraints=False`` omits the extension, ``key_cert_sign=False`` gives a CA a
    keyUsage without keyCertSign, ``authority_key_id=False`` omits the AKI, ``eku`` replaces
    a leaf's serverAuth (``None``: no EKU).
    """
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)])
    builder = (x509.CertificateBuilder().subject_name(name)
               .issuer_name(issuer_cert.subject if issuer_cert else name)
               .public_key(subject_key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(not_before).not_valid_after(not_before + lifetime)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(subject_key.public_key()),
                              critical=False))
    if authority_key_id:
        builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            issuer_key.public_key()), critical=False)
    if basic_constraints:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=ca, path_length=path_length if ca else None), critical=True)
    builder = builder.add_extension(
        _key_usage(signature=not ca, cert_sign=ca and key_cert_sign), critical=True)
    if eku is _DEFAULT:
        eku = None if ca else SERVER_AUTH
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
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
    def create(cls, **inter_kw) -> "Pki":
        """A root and an intermediate; ``inter_kw`` go to :func:`issue` for the intermediate."""
        rk = key()
        root = issue("Test Root", rk, None, rk, ca=True,
                     not_before=NOW - datetime.timedelta(days=30),
                     lifetime=datetime.timedelta(days=3650))
        ik = key()
        inter_kw = {"not_before": NOW - datetime.timedelta(days=30),
                    "lifetime": datetime.timedelta(days=365), **inter_kw}
        inter = issue("Test Intermediate", ik, root, rk, ca=True, **inter_kw)
        return cls(rk, root, ik, inter)

    def leaf_cert(self, names: Sequence[str], leaf_key=None, **kw) -> x509.Certificate:
        kw = {"ca": False, **kw}
        return issue(names[0], leaf_key or key(), self.inter, self.inter_key, names=names, **kw)

    def leaf(self, names: Sequence[str], leaf_key=None, **kw) -> tuple[bytes, bytes]:
        """(chain PEM leaf+intermediate, key PEM)."""
        leaf_key = leaf_key or key()
        leaf = self.leaf_cert(names, leaf_key, **kw)
        return cert_pem(leaf) + cert_pem(self.inter), key_pem(leaf_key)

    @property
    def root_pem(self) -> bytes:
        return cert_pem(self.root)

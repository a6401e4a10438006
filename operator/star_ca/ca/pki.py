"""The CA hierarchy: a root and an intermediate, created once and kept in the database.

Keys live in the SQLite ``meta`` table (not loose files) so that one database file is the
whole state, copied or backed up atomically. ``root.pem`` is written next to it for clients.
The serving certificate for the CA's own HTTPS is issued by the intermediate at every start
(it is cheap, and so picks up changed ``--tls-name`` values without migration).
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from star_ca.ca.keys import generate_key, signature_hash
from star_ca.db import Store

ROOT_DAYS = 3650
INTERMEDIATE_DAYS = 1825
SERVING_DAYS = 90


@dataclass(frozen=True)
class Hierarchy:
    root_cert: x509.Certificate
    intermediate_key: CertificateIssuerPrivateKeyTypes
    intermediate_cert: x509.Certificate

    @property
    def root_pem(self) -> bytes:
        return self.root_cert.public_bytes(serialization.Encoding.PEM)

    @property
    def intermediate_pem(self) -> bytes:
        return self.intermediate_cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: CertificateIssuerPrivateKeyTypes) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _ca_cert(subject: str, key: CertificateIssuerPrivateKeyTypes,
             issuer: x509.Certificate | None, issuer_key: CertificateIssuerPrivateKeyTypes,
             days: int, path_length: int | None) -> x509.Certificate:
    now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "star-operator"),
                      x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    pub = key.public_key()
    builder = (x509.CertificateBuilder()
               .subject_name(name)
               .issuer_name(issuer.subject if issuer else name)
               .public_key(pub)
               .serial_number(x509.random_serial_number())
               .not_valid_before(now).not_valid_after(now + dt.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), True)
               .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False,
                                            False), True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), False))
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key()),  # type: ignore[arg-type]
            False)
    return builder.sign(issuer_key, signature_hash(issuer_key))


async def _stored(store: Store) -> Hierarchy | None:
    stored = [await store.get_meta(k)
              for k in ("root_cert", "intermediate_key", "intermediate_cert")]
    if not all(stored):
        return None
    root_pem, ikey_pem, icert_pem = stored
    assert root_pem and ikey_pem and icert_pem
    ikey = serialization.load_pem_private_key(ikey_pem, None)
    return Hierarchy(x509.load_pem_x509_certificate(root_pem), ikey,  # type: ignore[arg-type]
                     x509.load_pem_x509_certificate(icert_pem))


async def load_or_create(store: Store, key_type: str) -> Hierarchy:
    """The stored hierarchy, or a new one (first start) committed in one transaction. Replicas
    starting together on an empty database each make one, the first commit wins and every
    replica uses what was stored."""
    found = await _stored(store)
    if found is not None:
        return found
    suffix = os.urandom(3).hex()
    root_key = generate_key(key_type)
    root = _ca_cert(f"STAR CA root {suffix}", root_key, None, root_key, ROOT_DAYS, 1)
    ikey = generate_key(key_type)
    inter = _ca_cert(f"STAR CA intermediate {suffix}", ikey, root, root_key,
                     INTERMEDIATE_DAYS, 0)
    pem = serialization.Encoding.PEM
    await store.add_meta({"root_cert": root.public_bytes(pem), "root_key": _key_pem(root_key),
                          "intermediate_key": _key_pem(ikey),
                          "intermediate_cert": inter.public_bytes(pem)})
    stored = await _stored(store)
    assert stored is not None, "the hierarchy was just committed"
    return stored


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Replace ``path`` so readers never see a half-written file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def write_serving_files(h: Hierarchy, tls_dir: Path, names: list[str]) -> tuple[Path, Path]:
    """Issue the HTTPS serving certificate for ``names``; returns (chain path, key path)."""
    key = generate_key("ecdsa-p256")
    now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    sans: list[x509.GeneralName] = []
    for n in dict.fromkeys(names):
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            sans.append(x509.DNSName(n))
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "star-ca")]))
            .issuer_name(h.intermediate_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + dt.timedelta(days=SERVING_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
            .add_extension(x509.SubjectAlternativeName(sans), False)
            .sign(h.intermediate_key, signature_hash(h.intermediate_key)))
    tls_dir.mkdir(parents=True, exist_ok=True)
    chain, key_path = tls_dir / "serving-chain.pem", tls_dir / "serving-key.pem"
    write_atomic(key_path, _key_pem(key), 0o600)
    write_atomic(chain, cert.public_bytes(serialization.Encoding.PEM) + h.intermediate_pem)
    return chain, key_path

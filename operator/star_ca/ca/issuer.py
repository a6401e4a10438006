"""Leaf certificate signing, the hot path of both finalize and STAR renewals.

Kept minimal on purpose (one ECDSA signature, no per-call key parsing): the benchmark target is
1,000 STAR renewals per second on two cores.
"""
from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from star_ca.ca.keys import signature_hash
from star_ca.ca.pki import Hierarchy


@dataclass(frozen=True)
class Issued:
    serial: str
    chain_pem: str
    not_before: float
    not_after: float


class Issuer:
    """Signs leaf certificates with the intermediate; precomputes what every leaf shares."""

    def __init__(self, hierarchy: Hierarchy) -> None:
        self.h = hierarchy
        self._issuer_name = hierarchy.intermediate_cert.subject
        self._aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(
            hierarchy.intermediate_key.public_key())
        # what the first half of every ARI certID of this CA is (RFC 9773 §4.1)
        self.key_identifier: bytes = self._aki.key_identifier or b""
        self._hash = signature_hash(hierarchy.intermediate_key)
        self._inter_pem = hierarchy.intermediate_pem.decode()
        self._eku = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                           ExtendedKeyUsageOID.CLIENT_AUTH])

    def issue(self, public_key: CertificatePublicKeyTypes, names: list[str],
              not_before: float, not_after: float) -> Issued:
        """A leaf for ``names`` (first one also the CN when short enough), DER-timed to the
        second: the window arithmetic works in whole seconds so headers equal the fields."""
        nb = dt.datetime.fromtimestamp(int(not_before), dt.timezone.utc)
        na = dt.datetime.fromtimestamp(int(not_after), dt.timezone.utc)
        serial = int.from_bytes(secrets.token_bytes(16), "big") >> 1 | (1 << 120)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]
                            if len(names[0]) <= 64 else [])
        rsa_key = isinstance(public_key, rsa.RSAPublicKey)
        cert = (x509.CertificateBuilder()
                .subject_name(subject).issuer_name(self._issuer_name)
                .public_key(public_key).serial_number(serial)
                .not_valid_before(nb).not_valid_after(na)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
                .add_extension(x509.KeyUsage(True, False, rsa_key, False, False, False, False,
                                             False, False), True)
                .add_extension(self._eku, False)
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]),
                               not subject)
                .add_extension(self._aki, False)
                .sign(self.h.intermediate_key, self._hash))
        pem = cert.public_bytes(serialization.Encoding.PEM).decode()
        return Issued(serial=format(serial, "x"), chain_pem=pem + self._inter_pem,
                      not_before=nb.timestamp(), not_after=na.timestamp())

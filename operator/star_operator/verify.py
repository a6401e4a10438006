"""Checks a fetched STAR certificate before it may replace the one pods are serving.

A wrong certificate in the Secret takes a site down, while keeping the previous one for a little
longer costs nothing, so every condition below is checked and any failure keeps the old one:
the leaf matches our private key; the chain links, signature by signature, to a root in the CA
bundle; the names are exactly the ordered ones; and the validity fits the STAR order (now inside
the window, notAfter not beyond end-date).
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Sequence

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes

from star_operator import pem
from star_operator.errors import ReasonedError


class VerificationError(ReasonedError):
    """The certificate must not be installed; ``reason`` is a CamelCase condition reason."""


@dataclasses.dataclass(frozen=True)
class VerifiedCertificate:
    """Facts about a certificate that passed :func:`verify_certificate`."""

    chain: list[x509.Certificate]
    serial: str
    not_before: datetime.datetime
    not_after: datetime.datetime
    dns_names: list[str]
    common_name: str | None

    @property
    def leaf(self) -> x509.Certificate:
        return self.chain[0]


def serial_hex(cert: x509.Certificate) -> str:
    """Serial number as lower-case hex (what openssl and cmctl print, minus colons)."""
    return format(cert.serial_number, "x")


def _check_key(leaf: x509.Certificate, key_pem: str | bytes) -> None:
    try:
        key = pem.load_private_key(key_pem)
    except pem.PemError as exc:
        raise VerificationError("KeyInvalid", str(exc)) from exc
    if pem.spki_der(key.public_key()) != pem.spki_der(leaf.public_key()):
        raise VerificationError(
            "KeyMismatch", "certificate public key does not match the private key")


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _check_chain(chain: Sequence[x509.Certificate], roots: Sequence[x509.Certificate],
                 now: datetime.datetime, skew: datetime.timedelta) -> None:
    """Walk leaf → intermediates → a trusted root; every link must be signed by the next."""
    root_fps = {r.fingerprint(hashes.SHA256()) for r in roots}
    for index, cert in enumerate(chain):
        if index > 0 and not (cert.not_valid_before_utc - skew <= now
                              <= cert.not_valid_after_utc + skew):
            raise VerificationError(
                "ChainInvalid", f"chain certificate {index} ({cert.subject.rfc4514_string()}) "
                                "is outside its validity period")
        for root in roots:
            if _issued_by(cert, root):
                return
        if cert.fingerprint(hashes.SHA256()) in root_fps:
            return
        if index + 1 >= len(chain):
            break
        if not _issued_by(cert, chain[index + 1]):
            raise VerificationError(
                "ChainInvalid", f"certificate {index} is not signed by certificate {index + 1} "
                                "of the chain")
    raise VerificationError("ChainUntrusted",
                            "chain does not lead to a certificate in the CA bundle")


def _check_names(leaf: x509.Certificate, expected: Sequence[str]) -> list[str]:
    names = pem.dns_names(leaf)
    want = sorted({n.lower().rstrip(".") for n in expected})
    got = sorted({n.lower().rstrip(".") for n in names})
    if want != got:
        missing = sorted(set(want) - set(got))
        extra = sorted(set(got) - set(want))
        raise VerificationError(
            "NamesMismatch", f"certificate names differ from the order: missing {missing}, "
                             f"unexpected {extra}")
    return names


def verify_certificate(chain_pem: str | bytes, key_pem: str | bytes, ca_bundle_pem: str | bytes,
                       *, expected_names: Sequence[str] | None = None,
                       end_date: datetime.datetime | None = None,
                       now: datetime.datetime | None = None,
                       clock_skew: float = 5.0) -> VerifiedCertificate:
    """Verify a PEM chain (leaf first); raise :class:`VerificationError` naming what is wrong."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    skew = datetime.timedelta(seconds=clock_skew)
    try:
        chain = pem.load_chain(chain_pem)
    except pem.PemError as exc:
        raise VerificationError("ChainMalformed", str(exc)) from exc
    try:
        roots = pem.load_chain(ca_bundle_pem)
    except pem.PemError as exc:
        raise VerificationError("CABundleInvalid", str(exc)) from exc
    leaf = chain[0]
    _check_key(leaf, key_pem)
    _check_chain(chain, roots, now, skew)
    names = _check_names(leaf, expected_names) if expected_names else pem.dns_names(leaf)
    not_before, not_after = leaf.not_valid_before_utc, leaf.not_valid_after_utc
    if not_after + skew < now:
        raise VerificationError("Expired", f"certificate expired at {not_after.isoformat()}")
    if not_before - skew > now:
        raise VerificationError("NotYetValid",
                                f"certificate is not valid before {not_before.isoformat()}")
    if end_date is not None and not_after > end_date + skew:
        raise VerificationError(
            "BeyondEndDate", f"certificate notAfter {not_after.isoformat()} is later than the "
                             f"order's end-date {end_date.isoformat()}")
    return VerifiedCertificate(chain=chain, serial=serial_hex(leaf), not_before=not_before,
                               not_after=not_after, dns_names=names,
                               common_name=pem.common_name(leaf))

"""Checks a fetched STAR certificate before it may replace the one pods are serving.

A wrong certificate in the Secret takes a site down, while keeping the previous one for a little
longer costs nothing, so every condition below is checked and any failure keeps the old one:
the leaf matches our private key; the names are exactly the ordered ones; the leaf is inside its
validity window (with ``clock_skew`` of tolerance); the chain passes RFC 5280 / Web PKI path
validation to a certificate in the CA bundle (:mod:`cryptography.x509.verification`: signatures,
validity of every certificate, basicConstraints cA, keyUsage keyCertSign, path length, the
leaf's serverAuth extended key usage and its subjectAltName); and notAfter is not beyond the
STAR order's end-date.

The path validator decides; it reports one exception type whose message is meant for people.
When it refuses, :func:`_diagnose` looks at the presented certificates to name the defect with
its own reason (``IntermediateExpired``, ``IssuerNotCA``, ...), falling back to
``ChainInvalid``; the validator's message is always part of the condition message.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Sequence

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID

from star_operator import pem
from star_operator.errors import ReasonedError

# A label standing in for "*" when the only names are wildcards: the validator wants a
# reference name, and any name the wildcard covers tests the same subjectAltName entry.
_WILDCARD_PROBE = "star-operator-wildcard-probe"


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


#: What a leaf is checked against: our private key (PEM), or the public key of a CSR made
#: elsewhere (RFC 9115 delegation: the key never comes here).
KeyRef = str | bytes | PublicKeyTypes


def _check_key(leaf: x509.Certificate, key: KeyRef) -> None:
    if isinstance(key, (str, bytes)):
        try:
            public = pem.load_private_key(key).public_key()
        except pem.PemError as exc:
            raise VerificationError("KeyInvalid", str(exc)) from exc
        what = "the private key"
    else:
        public, what = key, "the CSR's public key"
    if pem.spki_der(public) != pem.spki_der(leaf.public_key()):
        raise VerificationError("KeyMismatch", f"certificate public key does not match {what}")


def _normal(name: str) -> str:
    return name.lower().rstrip(".")


def _check_names(leaf: x509.Certificate, expected: Sequence[str]) -> list[str]:
    names = pem.dns_names(leaf)
    want = sorted({_normal(n) for n in expected})
    got = sorted({_normal(n) for n in names})
    if want != got:
        missing = sorted(set(want) - set(got))
        extra = sorted(set(got) - set(want))
        raise VerificationError(
            "NamesMismatch", f"certificate names differ from the order: missing {missing}, "
                             f"unexpected {extra}")
    return names


def _reference_name(names: Sequence[str]) -> verification.DNSName:
    """The name the validator matches the leaf against (the full set is checked by
    :func:`_check_names`): the first plain name, else a name the first wildcard covers."""
    if not names:
        raise VerificationError("NamesMismatch", "certificate has no DNS subjectAltName")
    plain = [n for n in names if not n.startswith("*.")]
    name = _normal(plain[0]) if plain else _WILDCARD_PROBE + _normal(names[0])[1:]
    try:
        return verification.DNSName(name)
    except ValueError as exc:
        raise VerificationError("NamesMismatch",
                                f"certificate name {name!r} is not a valid DNS name") from exc


def _validation_time(leaf: x509.Certificate, now: datetime.datetime,
                     skew: datetime.timedelta) -> datetime.datetime:
    """Refuse a leaf outside its window by more than ``skew``; else the instant to validate
    at: ``now`` moved into the leaf's window (the validator's time check is exact, so a CA
    whose clock runs a second ahead would otherwise be refused)."""
    not_before, not_after = leaf.not_valid_before_utc, leaf.not_valid_after_utc
    if not_after + skew < now:
        raise VerificationError("Expired", f"certificate expired at {not_after.isoformat()}")
    if not_before - skew > now:
        raise VerificationError("NotYetValid",
                                f"certificate is not valid before {not_before.isoformat()}")
    return min(max(now, not_before), not_after)


def _extension(cert: x509.Certificate,
               kind: type[x509.ExtensionType]) -> x509.ExtensionType | None:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _describe(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string() or f"serial {serial_hex(cert)}"


def _diagnose_leaf(leaf: x509.Certificate) -> tuple[str, str] | None:
    if _signed_by(leaf, leaf):
        return "SelfSigned", "the leaf is self-signed (signed by its own key), not issued by a CA"
    eku = _extension(leaf, x509.ExtendedKeyUsage)
    if isinstance(eku, x509.ExtendedKeyUsage) and ExtendedKeyUsageOID.SERVER_AUTH not in eku:
        usages = [getattr(oid, "_name", oid.dotted_string) for oid in eku]
        return "WrongExtendedKeyUsage", (f"the leaf's extended key usage {usages} does not "
                                         "include serverAuth")
    constraints = _extension(leaf, x509.BasicConstraints)
    if isinstance(constraints, x509.BasicConstraints) and constraints.ca:
        return "LeafIsCA", "the leaf is a CA certificate (basicConstraints cA=true)"
    return None


def _diagnose_issuer(ca: x509.Certificate, below: int,
                     at: datetime.datetime) -> tuple[str, str] | None:
    """What keeps ``ca`` from signing the next certificate down the chain, ``below``
    intermediates lying between it and the leaf (``None``: nothing found)."""
    name = _describe(ca)
    if ca.not_valid_after_utc < at:
        return "IntermediateExpired", (f"intermediate {name} expired at "
                                       f"{ca.not_valid_after_utc.isoformat()}")
    if ca.not_valid_before_utc > at:
        return "IntermediateNotYetValid", (f"intermediate {name} is not valid before "
                                           f"{ca.not_valid_before_utc.isoformat()}")
    constraints = _extension(ca, x509.BasicConstraints)
    if not isinstance(constraints, x509.BasicConstraints) or not constraints.ca:
        state = "absent" if constraints is None else "cA=false"
        return "IssuerNotCA", (f"{name} signs certificates but is not a CA "
                               f"(basicConstraints {state})")
    usage = _extension(ca, x509.KeyUsage)
    if not isinstance(usage, x509.KeyUsage) or not usage.key_cert_sign:
        state = "absent" if usage is None else "without keyCertSign"
        return "IssuerCannotSign", f"CA {name} may not sign certificates (keyUsage {state})"
    if constraints.path_length is not None and below > constraints.path_length:
        return "PathLengthExceeded", (f"CA {name} allows {constraints.path_length} "
                                      f"intermediate(s) below it, the chain has {below}")
    return None


def _diagnose(chain: Sequence[x509.Certificate], roots: Sequence[x509.Certificate],
              at: datetime.datetime) -> tuple[str, str]:
    """(reason, why) for a chain the path validator refused, read from the certificates: the
    leaf's own defects, then, up the issuers the chain names, each link's signature and the
    issuer's validity and CA constraints. It only names the defect; the validator decided."""
    leaf = chain[0]
    found = _diagnose_leaf(leaf)
    if found:
        return found
    anchors = {r.fingerprint(hashes.SHA256()) for r in roots}
    cert, issuers = leaf, []
    while (cert.fingerprint(hashes.SHA256()) not in anchors
           and not any(_signed_by(cert, root) for root in roots)):
        issuer = next((c for c in chain[1:] if c.subject == cert.issuer and c != leaf
                       and c not in issuers), None)
        if issuer is None:
            return "ChainUntrusted", (f"nothing in the CA bundle or the chain signed "
                                      f"{_describe(cert)} (issuer {cert.issuer.rfc4514_string()})")
        issuers.append(issuer)
        cert = issuer
    below = leaf
    for depth, ca in enumerate(issuers):
        if not _signed_by(below, ca):
            return "ChainInvalid", f"{_describe(below)} is not signed by {_describe(ca)}"
        found = _diagnose_issuer(ca, depth, at)
        if found:
            return found
        below = ca
    for root in roots:
        if below != root and _signed_by(below, root):
            found = _diagnose_issuer(root, len(issuers), at)
            if found and found[0] == "PathLengthExceeded":
                return found
    return "ChainInvalid", "the chain does not pass path validation"


def _check_path(chain: Sequence[x509.Certificate], roots: Sequence[x509.Certificate],
                at: datetime.datetime, names: Sequence[str]) -> None:
    """RFC 5280 path validation of ``chain`` (leaf first, the rest untrusted helpers) to one
    of ``roots`` at ``at``, as a TLS server certificate for ``names[0]``."""
    verifier = (verification.PolicyBuilder().store(verification.Store(list(roots))).time(at)
                .build_server_verifier(_reference_name(names)))
    try:
        verifier.verify(chain[0], list(chain[1:]))
    except (verification.VerificationError, ValueError) as exc:
        try:
            reason, why = _diagnose(chain, roots, at)
        except ValueError:  # an extension too malformed to read: the validator's word only
            reason, why = "ChainInvalid", "the chain does not pass path validation"
        raise VerificationError(reason, f"{why}; validator: {exc}") from exc


def verify_certificate(chain_pem: str | bytes, key_pem: KeyRef, ca_bundle_pem: str | bytes,
                       *, expected_names: Sequence[str] | None = None,
                       end_date: datetime.datetime | None = None,
                       now: datetime.datetime | None = None,
                       clock_skew: float = 5.0) -> VerifiedCertificate:
    """Verify a PEM chain (leaf first); raise :class:`VerificationError` naming what is wrong.

    The CA bundle's certificates are the trust anchors (an intermediate in it is one too).
    """
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
    names = _check_names(leaf, expected_names) if expected_names else pem.dns_names(leaf)
    at = _validation_time(leaf, now, skew)
    _check_path(chain, roots, at, list(expected_names or names))
    not_before, not_after = leaf.not_valid_before_utc, leaf.not_valid_after_utc
    if end_date is not None and not_after > end_date + skew:
        raise VerificationError(
            "BeyondEndDate", f"certificate notAfter {not_after.isoformat()} is later than the "
                             f"order's end-date {end_date.isoformat()}")
    return VerifiedCertificate(chain=chain, serial=serial_hex(leaf), not_before=not_before,
                               not_after=not_after, dns_names=names,
                               common_name=pem.common_name(leaf))

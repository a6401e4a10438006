"""Hypothesis strategies shared by the fuzz tests: junk bytes and JSON shapes, and real CSRs
built with cryptography and then optionally mutated byte-wise, so the parsers see both inputs
that reach deep into their checks and inputs that break the DER at any point.

Every fuzz test uses ``FUZZ``: a fixed example budget and ``derandomize=True``, so CI runs the
same examples each time and the whole fuzz directory stays within a few seconds per target."""
from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

FUZZ = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=12)
b64url_junk = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                               "0123456789-_=+/!. ", max_size=60)
dns_label = st.from_regex(r"\A[a-z0-9*]([a-z0-9-]{0,8}[a-z0-9])?\Z")
dns_names = st.lists(dns_label, min_size=1, max_size=4).map(".".join)


# bytes that break encodings more often than a uniform draw: invalid UTF-8, NUL, high tags
byte_values = st.sampled_from([0x00, 0x80, 0xC0, 0xFF]) | st.integers(0, 255)


@lru_cache(maxsize=None)
def private_key(name: str) -> Any:
    """Keys are slow to make (RSA); one per kind serves every example."""
    if name == "rsa-1024":
        return rsa.generate_private_key(65537, 1024)
    if name == "rsa-2048":
        return rsa.generate_private_key(65537, 2048)
    if name == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    return ec.generate_private_key({"p256": ec.SECP256R1(), "p384": ec.SECP384R1(),
                                    "p192": ec.SECP192R1()}[name])


@st.composite
def csr_der(draw: st.DrawFn, names: st.SearchStrategy[str] = dns_names,
            sans: st.SearchStrategy[list[str]] | None = None) -> bytes:
    """A signed PKCS#10 request (random key kind, CN from ``names``, dNSName SANs from
    ``sans``, other SANs, extensions and attributes), then maybe mutated."""
    key_name = draw(st.sampled_from(["p256", "p384", "p192", "rsa-1024", "rsa-2048",
                                     "ed25519"]))
    builder = x509.CertificateSigningRequestBuilder()
    subject = []
    if draw(st.booleans()):
        subject.append(x509.NameAttribute(NameOID.COMMON_NAME, draw(names)))
    if draw(st.booleans()):
        subject.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, draw(st.text(max_size=9))))
    builder = builder.subject_name(x509.Name(subject))
    general: list[x509.GeneralName] = [
        x509.DNSName(n) for n in draw(sans if sans is not None else st.lists(names, max_size=3))]
    if draw(st.booleans()):
        general.append(x509.IPAddress(ipaddress.ip_address("192.0.2.1")))
    if draw(st.booleans()):
        general.append(x509.RFC822Name("a@b.example"))
    if general:
        builder = builder.add_extension(x509.SubjectAlternativeName(general), critical=False)
    if draw(st.booleans()):
        builder = builder.add_extension(x509.BasicConstraints(ca=draw(st.booleans()),
                                                              path_length=None), critical=True)
    if draw(st.booleans()):
        builder = builder.add_attribute(x509.ObjectIdentifier("1.2.840.113549.1.9.7"),
                                        draw(st.text(min_size=1, max_size=8)).encode())
    key = private_key(key_name)
    # deterministic signatures: a replayed example must draw the same byte positions
    csr = builder.sign(key, None if key_name == "ed25519" else hashes.SHA256(),
                       ecdsa_deterministic=True if key_name[0] == "p" else None)
    der = bytearray(csr.public_bytes(Encoding.DER))
    if key_name == "rsa-2048" and draw(st.booleans()):
        texts = [a.value.encode() for a in subject if isinstance(a.value, str)] + [
            g.value.encode() for g in general if isinstance(g, x509.DNSName)]
        changes = draw(st.lists(st.tuples(st.booleans(), st.integers(0, 10**6), byte_values),
                                min_size=1, max_size=3))
        return resigned(bytes(der), csr, damaged(csr.tbs_certrequest_bytes, texts, changes))
    for _ in range(draw(st.integers(0, 3))):  # mutation: overwrite, drop or insert bytes
        at = draw(st.integers(0, len(der) - 1))
        action = draw(st.sampled_from(["set", "drop", "insert"]))
        if action == "set":
            der[at] = draw(byte_values)
        elif action == "drop":
            del der[at]
        else:
            der.insert(at, draw(byte_values))
        if not der:
            break
    if draw(st.booleans()):
        der = der[:draw(st.integers(0, len(der)))]
    return bytes(der)



def damaged(tbs: bytes, texts: list[bytes], changes: list[tuple[bool, int, int]]) -> bytes:
    """``tbs`` with bytes overwritten. A change is (aimed, position, byte): aimed ones land
    inside one of ``texts`` (the names and subject values), where an invalid byte breaks a
    string encoding; the others anywhere."""
    out = bytearray(tbs)
    spots = [i + tbs.find(t) for t in texts if t and t in tbs for i in range(len(t))]
    for aimed, position, value in changes:
        out[spots[position % len(spots)] if aimed and spots else position % len(out)] = value
    return bytes(out)


def resigned(der: bytes, csr: x509.CertificateSigningRequest, tbs: bytes) -> bytes:
    """The RSA-2048 CSR ``der`` with its signed part replaced by ``tbs`` (same length) and
    signed again, so the signature check passes and the damage reaches the name and extension
    parsing behind it. A PKCS#1 v1.5 signature has the key's length, so the new one replaces
    the old one at the end of the DER in place and no ASN.1 needs re-encoding."""
    out = bytearray(der)
    start = der.find(csr.tbs_certrequest_bytes)
    signature = private_key("rsa-2048").sign(tbs, padding.PKCS1v15(), hashes.SHA256())
    out[start:start + len(tbs)] = tbs
    out[-len(signature):] = signature
    return bytes(out)


def hostile_csr(common_name: str, replacement: bytes, tag: int | None = None) -> bytes:
    """A validly signed CSR for a.star.test whose commonName value is replaced by
    ``replacement`` (same length) and, with ``tag``, its ASN.1 string type too: the explicit
    examples of what the fuzzing found."""
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
           .add_extension(x509.SubjectAlternativeName([x509.DNSName("a.star.test")]), False)
           .sign(private_key("rsa-2048"), hashes.SHA256()))
    tbs = bytearray(csr.tbs_certrequest_bytes)
    at = tbs.find(common_name.encode())
    tbs[at:at + len(replacement)] = replacement
    if tag is not None:
        tbs[at - 2] = tag
    return resigned(csr.public_bytes(Encoding.DER), csr, bytes(tbs))


# What the fuzzing found (both crashed the CA's finalize with a 500 and the operator's
# checker with an exception); kept as explicit examples of every CSR target.
BAD_UTF8_COMMON_NAME = hostile_csr("MARKERX", b"\xff\xfe\xfd")
BIT_STRING_COMMON_NAME = hostile_csr("\x00abcdef", b"\x00abcdef", tag=0x03)

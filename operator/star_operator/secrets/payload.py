"""Pure construction of the TLS Secret body.

Layout follows cert-manager so existing tooling (Reloader, ingress controllers,
``cmctl inspect secret``) works unchanged: type ``kubernetes.io/tls``, ``tls.crt`` = leaf + chain,
``tls.key``, ``ca.crt``, and the ``cert-manager.io/*`` annotations. Labels and annotations other
tools put on the Secret are preserved; our own keys always win.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
from collections.abc import Mapping
from typing import Any

from star_operator import constants as c
from star_operator.verify import VerifiedCertificate


@dataclasses.dataclass(frozen=True)
class TlsMaterial:
    """The three PEM blobs that must change together.

    ``key_pem`` None: a certificate-only payload, for a certificate whose key was never here
    (a StarOrder with ``spec.csr``). Such a write also removes any key the Secret held, so a
    Secret never pairs a certificate with a key that is not its own.
    """

    chain_pem: bytes
    key_pem: bytes | None
    ca_pem: bytes | None = None

    @property
    def certificate_only(self) -> bool:
        return self.key_pem is None


#: What a certificate-only write removes: no key, staged or current, stays next to it.
KEY_FIELDS = (c.STAGED_KEY, c.TLS_KEY)


@dataclasses.dataclass(frozen=True)
class SecretIdentity:
    """Who the Secret belongs to, for the cert-manager-compatible annotations."""

    certificate_name: str
    issuer_name: str = ""
    issuer_kind: str = c.CSRTEMPLATE_KIND
    issuer_group: str = c.GROUP
    star_certificate_url: str = ""


TLS_TYPE = "kubernetes.io/tls"
OPAQUE_TYPE = "Opaque"


def b64(data: bytes) -> str:
    """Secret ``data`` values are base64 strings."""
    return base64.b64encode(data).decode("ascii")


def unb64(value: str | None) -> bytes:
    """Decode a Secret ``data`` value ('' and None → b'')."""
    return base64.b64decode(value) if value else b""


def tls_data(material: TlsMaterial) -> dict[str, str]:
    """The ``data`` entries for a TLS Secret (no ``tls.key`` for a certificate-only one)."""
    data = {c.TLS_CRT: b64(material.chain_pem)}
    if material.key_pem is not None:
        data[c.TLS_KEY] = b64(material.key_pem)
    if material.ca_pem:
        data[c.CA_CRT] = b64(material.ca_pem)
    return data


def certificate_annotations(cert: VerifiedCertificate, who: SecretIdentity) -> dict[str, str]:
    """cert-manager's Secret annotations plus ours (serial, notAfter, STAR URL)."""
    ann = {
        c.CM_CERTIFICATE_NAME: who.certificate_name,
        c.CM_ISSUER_NAME: who.issuer_name,
        c.CM_ISSUER_KIND: who.issuer_kind,
        c.CM_ISSUER_GROUP: who.issuer_group,
        c.CM_COMMON_NAME: cert.common_name or "",
        c.CM_ALT_NAMES: ",".join(cert.dns_names),
        c.CM_IP_SANS: "",
        c.CM_URI_SANS: "",
        c.SERIAL_ANNOTATION: cert.serial,
        c.NOT_AFTER_ANNOTATION: cert.not_after.isoformat().replace("+00:00", "Z"),
    }
    if who.star_certificate_url:
        ann[c.STAR_URL_ANNOTATION] = who.star_certificate_url
    return ann


def managed_labels() -> dict[str, str]:
    """Labels marking a Secret as ours (and letting ``kubectl get -l`` find them)."""
    return {c.MANAGED_BY_LABEL: c.MANAGED_BY_VALUE}


def is_managed(secret: Mapping[str, Any] | None) -> bool:
    """Whether an existing Secret was created by this operator."""
    labels = ((secret or {}).get("metadata") or {}).get("labels") or {}
    return labels.get(c.MANAGED_BY_LABEL) == c.MANAGED_BY_VALUE


def secret_body(existing: Mapping[str, Any] | None, *, namespace: str, name: str,
                data: Mapping[str, str], annotations: Mapping[str, str] | None = None,
                labels: Mapping[str, str] | None = None,
                drop_keys: tuple[str, ...] = (c.STAGED_KEY,),
                secret_type: str = TLS_TYPE) -> dict[str, Any]:
    """The full Secret to PUT (or POST): ``existing`` with our data/labels/annotations applied.

    Keeps ``resourceVersion`` from ``existing`` so the write is conditional, keeps foreign data
    keys, labels and annotations, and removes ``drop_keys`` (the staged key once tls.key holds it).
    ``secret_type`` is the type of a new Secret (an existing one's cannot change): ``Opaque``
    for a certificate-only Secret, since ``kubernetes.io/tls`` demands a ``tls.key``.
    """
    body: dict[str, Any] = copy.deepcopy(dict(existing)) if existing else {
        "apiVersion": "v1", "kind": "Secret", "type": secret_type,
        "metadata": {"name": name, "namespace": namespace}}
    meta = body.setdefault("metadata", {})
    meta.pop("managedFields", None)  # server-owned; echoing it back only costs bytes
    meta["labels"] = {**(meta.get("labels") or {}), **managed_labels(), **(labels or {})}
    meta["annotations"] = {**(meta.get("annotations") or {}), **(annotations or {})}
    merged = {k: v for k, v in (body.get("data") or {}).items() if k not in drop_keys}
    merged.update(data)
    if body.get("type") == TLS_TYPE:
        # The API server requires both keys on a TLS Secret; empty until the first certificate
        # (and for good on a certificate-only one: an empty tls.key holds no key).
        merged.setdefault(c.TLS_CRT, "")
        merged.setdefault(c.TLS_KEY, "")
    body["data"] = merged
    return body


def data_equal(a: Mapping[str, Any] | None, b: Mapping[str, Any]) -> bool:
    """Whether two Secret bodies carry the same data, labels and annotations (skip no-op PUTs)."""
    if a is None:
        return False
    am, bm = a.get("metadata") or {}, b.get("metadata") or {}
    return ((a.get("data") or {}) == (b.get("data") or {})
            and (am.get("labels") or {}) == (bm.get("labels") or {})
            and (am.get("annotations") or {}) == (bm.get("annotations") or {}))


def read_key(secret: Mapping[str, Any] | None, key: str = c.TLS_KEY) -> bytes:
    """The private key PEM from a Secret: the staged key if present, else ``key``.

    A staged key is newer than ``tls.key`` (a StarOrder re-created over a kept Secret stages a
    fresh key while the old certificate is still served), so it wins until the first certificate
    for it is written.
    """
    data = (secret or {}).get("data") or {}
    return unb64(data.get(c.STAGED_KEY)) or unb64(data.get(key))

"""Load and validate an RFC 9115 §4 CSR template (CDDL in Appendix A is normative).

The template is the DNO's policy, written by a person (often as YAML in a CsrTemplate resource), so
every structural mistake is reported with the exact path of the offending field, e.g.
``keyTypes[0].namedCurve`` or ``extensions.subjectAltName.Email[1]``. CDDL maps are closed, so an
unknown key is an error rather than something silently ignored: a typo such as ``keyUsages`` must
not turn into "no key usage allowed".
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import yaml
from cryptography import x509

from .names import is_dns_name, normalize_dns
from .vocab import (
    CURVES,
    EC,
    ECDSA_SIGNATURES,
    KEY_USAGES,
    MIN_RSA_BITS,
    PLACEHOLDERS,
    RSA,
    RSA_SIGNATURES,
    SUBJECT_ATTRIBUTES,
    eku_oid,
)


class TemplateError(ValueError):
    """A template that does not follow RFC 9115 Appendix A; ``path`` names the bad field."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path or '<template>'}: {message}")
        self.path = path
        self.message = message


@dataclass(frozen=True)
class KeyType:
    """One ``keyTypes`` entry: the SPKI and CSR signature a client may use."""

    public_key_type: str  # "rsaEncryption" or "id-ecPublicKey"
    signature_type: str  # e.g. "sha256WithRSAEncryption", "ecdsa-with-SHA256"
    length: int | None = None  # RSA modulus bits
    curve: str | None = None  # EC named curve, e.g. "secp256r1"

    def describe(self) -> str:
        """Human form used in violation and refusal messages."""
        size = self.length if self.public_key_type == RSA else self.curve
        return f"{self.public_key_type} {size} with {self.signature_type}"

    def to_dict(self) -> dict[str, Any]:
        """The RFC's JSON form of this entry."""
        out: dict[str, Any] = {"PublicKeyType": self.public_key_type}
        if self.public_key_type == RSA:
            out["PublicKeyLength"] = self.length
        else:
            out["namedCurve"] = self.curve
        out["SignatureType"] = self.signature_type
        return out


@dataclass(frozen=True)
class CsrTemplate:
    """A validated template. DNS literals are stored normalised (lower case, no trailing dot).

    ``key_usage`` / ``extended_key_usage`` are None when the template omits them, which means the
    CSR must not carry that extension at all.
    """

    key_types: tuple[KeyType, ...]
    subject: Mapping[str, str] = field(default_factory=dict)
    dns: tuple[str, ...] = ()
    email: tuple[str, ...] = ()
    uri: tuple[str, ...] = ()
    key_usage: tuple[str, ...] | None = None
    extended_key_usage: tuple[str, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The RFC's JSON form (e.g. for a delegation object or a status field)."""
        san = {k: list(v) for k, v in (("DNS", self.dns), ("Email", self.email),
                                       ("URI", self.uri)) if v}
        extensions: dict[str, Any] = {"subjectAltName": san}
        if self.key_usage is not None:
            extensions["keyUsage"] = list(self.key_usage)
        if self.extended_key_usage is not None:
            extensions["extendedKeyUsage"] = list(self.extended_key_usage)
        out: dict[str, Any] = {"keyTypes": [k.to_dict() for k in self.key_types]}
        if self.subject:
            out["subject"] = dict(self.subject)
        out["extensions"] = extensions
        return out


def load_template(data: Mapping[str, Any] | str | bytes) -> CsrTemplate:
    """Parse (JSON or YAML text) and validate a template; raise TemplateError on any defect."""
    doc = _parse_text(data) if isinstance(data, (str, bytes)) else data
    root = _mapping(doc, "", required=("keyTypes", "extensions"),
                    optional=("subject",))
    ext = _mapping(root["extensions"], "extensions", required=("subjectAltName",),
                   optional=("keyUsage", "extendedKeyUsage"))
    san = _mapping(ext["subjectAltName"], "extensions.subjectAltName", required=(),
                   optional=("DNS", "Email", "URI"), non_empty=True)
    return CsrTemplate(
        key_types=_key_types(root["keyTypes"], "keyTypes"),
        subject=_subject(root["subject"], "subject") if "subject" in root else {},
        dns=_san_values(san, "DNS", _dns_value),
        email=_san_values(san, "Email", _email_value),
        uri=_san_values(san, "URI", _uri_value),
        key_usage=(_key_usage(ext["keyUsage"], "extensions.keyUsage")
                   if "keyUsage" in ext else None),
        extended_key_usage=(_eku(ext["extendedKeyUsage"], "extensions.extendedKeyUsage")
                            if "extendedKeyUsage" in ext else None),
    )


def _parse_text(text: str | bytes) -> Any:
    """JSON first (exact), then YAML (what people write in Kubernetes resources)."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise TemplateError("", f"neither valid JSON nor valid YAML: {exc}") from None


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _mapping(value: Any, path: str, *, required: Sequence[str], optional: Sequence[str],
             non_empty: bool = False) -> Mapping[str, Any]:
    """A closed CDDL map: known keys only, required ones present."""
    if not isinstance(value, Mapping):
        raise TemplateError(path, f"must be an object, got {_type_name(value)}")
    for key in value:
        if key not in required and key not in optional:
            allowed = ", ".join([*required, *optional])
            raise TemplateError(_join(path, str(key)), f"unknown field (allowed: {allowed})")
    for key in required:
        if key not in value:
            raise TemplateError(_join(path, key), "required field is missing")
    if non_empty and not value:
        raise TemplateError(path, "must not be empty")
    return value


def _list(value: Any, path: str) -> list[Any]:
    """A CDDL ``[ + ... ]`` array: a non-empty list."""
    if not isinstance(value, list):
        raise TemplateError(path, f"must be a list, got {_type_name(value)}")
    if not value:
        raise TemplateError(path, "must not be empty")
    return value


def _text(value: Any, path: str) -> str:
    """A non-empty string; YAML's unquoted yes/no/NO turn into booleans, so say so."""
    if not isinstance(value, str):
        hint = " (quote it in YAML)" if isinstance(value, (bool, int, float)) else ""
        raise TemplateError(path, f"must be a string, got {_type_name(value)} {value!r}{hint}")
    if not value:
        raise TemplateError(path, "must not be an empty string")
    return value


def _choice(value: Any, path: str, allowed: Sequence[str]) -> str:
    text = _text(value, path)
    if text not in allowed:
        raise TemplateError(path, f"{text!r} is not one of {', '.join(allowed)}")
    return text


def _key_types(value: Any, path: str) -> tuple[KeyType, ...]:
    return tuple(_key_type(item, f"{path}[{i}]") for i, item in enumerate(_list(value, path)))


def _key_type(value: Any, path: str) -> KeyType:
    if not isinstance(value, Mapping):
        raise TemplateError(path, f"must be an object, got {_type_name(value)}")
    if "PublicKeyType" not in value:
        raise TemplateError(_join(path, "PublicKeyType"), "required field is missing")
    kind = _choice(value["PublicKeyType"], _join(path, "PublicKeyType"), (RSA, EC))
    if kind == RSA:
        entry = _mapping(value, path, optional=(),
                         required=("PublicKeyType", "PublicKeyLength", "SignatureType"))
        length = entry["PublicKeyLength"]
        length_path = _join(path, "PublicKeyLength")
        if isinstance(length, bool) or not isinstance(length, int):
            raise TemplateError(length_path, f"must be an integer, got {_type_name(length)}")
        if length < MIN_RSA_BITS:
            raise TemplateError(length_path, f"must be at least {MIN_RSA_BITS}, got {length}")
        sig = _choice(entry["SignatureType"], _join(path, "SignatureType"), list(RSA_SIGNATURES))
        return KeyType(RSA, sig, length=length)
    entry = _mapping(value, path, optional=(),
                     required=("PublicKeyType", "namedCurve", "SignatureType"))
    curve = _choice(entry["namedCurve"], _join(path, "namedCurve"), list(CURVES))
    sig = _choice(entry["SignatureType"], _join(path, "SignatureType"), list(ECDSA_SIGNATURES))
    return KeyType(EC, sig, curve=curve)


def _subject(value: Any, path: str) -> dict[str, str]:
    """Subject attributes; literals must be encodable (cryptography checks e.g. country length)."""
    attrs = _mapping(value, path, required=(), optional=list(SUBJECT_ATTRIBUTES), non_empty=True)
    out: dict[str, str] = {}
    for name, raw in attrs.items():
        text = _text(raw, _join(path, name))
        if text not in PLACEHOLDERS:
            try:
                x509.NameAttribute(SUBJECT_ATTRIBUTES[name], text)
            except ValueError as exc:
                raise TemplateError(_join(path, name), str(exc)) from None
        out[name] = text
    return out


def _san_values(san: Mapping[str, Any], kind: str, parse: Any) -> tuple[str, ...]:
    if kind not in san:
        return ()
    path = f"extensions.subjectAltName.{kind}"
    values = tuple(parse(item, f"{path}[{i}]") for i, item in enumerate(_list(san[kind], path)))
    _no_duplicates([None if v in PLACEHOLDERS else v for v in values], path)
    return values


def _no_duplicates(keys: Sequence[str | None], path: str) -> None:
    """A repeated literal can never be matched twice by one CSR, so it is a template bug.

    ``keys[i]`` is what entry ``i`` is compared by (None: not compared, e.g. a placeholder).
    """
    seen: set[str] = set()
    for i, key in enumerate(keys):
        if key is not None and key in seen:
            raise TemplateError(f"{path}[{i}]", f"duplicate entry {key!r}")
        if key is not None:
            seen.add(key)


def _dns_value(value: Any, path: str) -> str:
    """``*`` / ``**`` placeholders or a literal host name (``*.abc.example`` is a literal)."""
    text = _text(value, path)
    if text in PLACEHOLDERS:
        return text
    name = normalize_dns(text)
    if not is_dns_name(name):
        raise TemplateError(path, f"{text!r} is not a valid DNS name")
    return name


def _email_value(value: Any, path: str) -> str:
    """Only DNS may use placeholders (Appendix A: ``Email: [ + regtext ]``)."""
    text = _literal_only(value, path)
    local, at, domain = text.rpartition("@")
    if not at or not local or not is_dns_name(normalize_dns(domain), allow_wildcard=False):
        raise TemplateError(path, f"{text!r} is not an email address")
    return text


def _uri_value(value: Any, path: str) -> str:
    text = _literal_only(value, path)
    parts = urlsplit(text)
    if not parts.scheme or not (parts.netloc or parts.path):
        raise TemplateError(path, f"{text!r} is not an absolute URI")
    return text


def _literal_only(value: Any, path: str) -> str:
    text = _text(value, path)
    if text in PLACEHOLDERS:
        raise TemplateError(path, f"{text!r} is only allowed in DNS entries; Email and URI "
                                  "entries must be literal values")
    return text


def _key_usage(value: Any, path: str) -> tuple[str, ...]:
    items = [_choice(v, f"{path}[{i}]", list(KEY_USAGES)) for i, v in enumerate(_list(value, path))]
    _no_duplicates(items, path)
    return tuple(items)


def _eku(value: Any, path: str) -> tuple[str, ...]:
    items: list[str] = []
    oids: list[str] = []
    for i, raw in enumerate(_list(value, path)):
        text = _text(raw, f"{path}[{i}]")
        oid = eku_oid(text)
        if oid is None:
            raise TemplateError(f"{path}[{i}]", f"{text!r} is neither a known extended key usage "
                                                "name nor a dotted OID")
        items.append(text)
        oids.append(oid.dotted_string)
    _no_duplicates(oids, path)  # "serverAuth" and "1.3.6.1.5.5.7.3.1" are the same usage
    return tuple(items)

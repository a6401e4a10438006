"""Is a Delegation usable, and if not, what exactly must the DNO fix? Pure: the operator's
handler reads the objects and writes the answer as the ``Ready`` condition.

The MAC key is checked for shape and size only; it never appears in a message.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Mapping
from typing import Any

from star_operator.csr_template.names import is_dns_name
from star_operator.delegation import binding, eab
from star_operator.delegation.orders import name_allowed
from star_operator.ordering.templates import TemplateSpecError, parse_template

#: Delegation names become label values on their StarOrders.
MAX_NAME = 63


@dataclasses.dataclass(frozen=True)
class Verdict:
    ready: bool
    reason: str
    message: str


def assess(delegation: Mapping[str, Any], template: Mapping[str, Any] | None,
           secret: Mapping[str, Any] | None) -> Verdict:
    """The first defect found, in the order the DNO would fix them; else Ready."""
    meta, spec = delegation.get("metadata") or {}, delegation.get("spec") or {}
    namespace, name = meta.get("namespace", ""), meta.get("name", "")
    if len(name) > MAX_NAME:
        return Verdict(False, "NameTooLong", f"name has {len(name)} characters; at most "
                                             f"{MAX_NAME} (it labels the StarOrders)")
    tname = spec.get("csrTemplateName", "")
    if template is None:
        return Verdict(False, "TemplateNotFound", f"CsrTemplate {tname!r} does not exist")
    try:
        policy = parse_template(template, namespace)
    except TemplateSpecError as exc:
        return Verdict(False, "TemplateInvalid", f"CsrTemplate {tname!r}: {exc}")
    if not policy.allows_namespace(namespace):
        return Verdict(False, "NamespaceNotAllowed", f"CsrTemplate {tname!r} does not allow "
                                                     f"namespace {namespace!r}")
    for key in spec.get("cnameMap") or {}:
        if not key.endswith(".") or not is_dns_name(key.rstrip("."), allow_wildcard=False):
            return Verdict(False, "CnameMapInvalid", f"spec.cnameMap key {key!r} is not an "
                                                     "FQDN with a terminating dot")
        if not name_allowed(key.rstrip("."), policy.template, policy.domains):
            return Verdict(False, "CnameMapInvalid", f"spec.cnameMap key {key!r} is not a "
                                                     f"name of CsrTemplate {tname!r}")
    ref = (spec.get("externalAccountBinding") or {}).get("hmacKeySecretRef") or {}
    key_name = ref.get("key") or "hmacKey"
    if secret is None:
        return Verdict(False, "SecretNotFound", f"Secret {namespace}/{ref.get('name')} (the "
                                                "EAB MAC key) does not exist")
    raw = (secret.get("data") or {}).get(key_name)
    if not raw:
        return Verdict(False, "SecretKeyMissing", f"Secret {namespace}/{ref.get('name')} has "
                                                  f"no key {key_name!r}")
    try:
        eab.decode_mac_key(base64.b64decode(raw).decode())
    except (ValueError, UnicodeDecodeError) as exc:
        return Verdict(False, "MacKeyInvalid", f"Secret {namespace}/{ref.get('name')} key "
                                               f"{key_name!r}: {exc}")
    key_id = (spec.get("externalAccountBinding") or {}).get("keyID")
    account = binding.bound_account(dict(delegation))
    if account is None:
        return Verdict(True, "AwaitingAccount", f"ready; no NDC account bound yet with key id "
                                                f"{key_id!r}")
    state = "" if account.get("status", "valid") == "valid" else f" ({account['status']})"
    return Verdict(True, "AccountBound", f"NDC account {account.get('url')}{state} bound "
                                         f"with key id {key_id!r}")

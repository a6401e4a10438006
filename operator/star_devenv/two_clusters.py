"""Two organizations, two clusters (RFC 9115): what the DNO applies in its cluster to grant a
CDN a delegation, and what the CDN applies in its own to order through the DNO's front end.

Lives in the harness (not in tests/) because the two-cluster integration tests and the demo's
``--two-clusters`` mode set up the same two sides; the values (names, key ids, MAC keys) are the
caller's, the shapes are the CRDs' (examples/delegation.yaml, examples/cdn-star-issuer.yaml).
"""
from __future__ import annotations

import base64
import secrets
from typing import Any

from star_devenv.dno import b64
from star_devenv.kubectl import Kubectl

API_VERSION = "star.operator.dev/v1alpha1"


def apply_all(kubectl: Kubectl, docs: list[dict[str, Any]]) -> None:
    """One ``kubectl apply`` for several objects (a v1 List, applied in order): each kubectl
    call costs about a second on a loaded machine."""
    kubectl.apply({"apiVersion": "v1", "kind": "List", "items": docs})


def mac_key() -> str:
    """A fresh 256-bit MAC key as the DNO hands it out: base64url, no padding."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


def delegation(kubectl: Kubectl, ns: str, name: str, template: str, key_id: str, mac: str,
               **spec: Any) -> None:
    """DNO side: the EAB Secret and the Delegation granting ``template`` to key id ``key_id``
    (``spec``: cnameMap, star bounds, ...)."""
    apply_all(kubectl, [
        {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
         "metadata": {"name": f"{name}-eab", "namespace": ns}, "data": {"hmacKey": b64(mac)}},
        {"apiVersion": API_VERSION, "kind": "Delegation",
         "metadata": {"name": name, "namespace": ns},
         "spec": {"csrTemplateName": template,
                  "externalAccountBinding": {
                      "keyID": key_id, "hmacKeySecretRef": {"name": f"{name}-eab"}},
                  **spec}}])


def star_issuer(kubectl: Kubectl, ns: str, name: str, directory: str, key_id: str, mac: str,
                roots: str | None = None) -> None:
    """CDN side: the EAB Secret (keyID, hmacKey), the roots Secret and the StarIssuer, as a CDN
    applies what the DNO handed over."""
    spec: dict[str, Any] = {"directoryURL": directory,
                            "externalAccountBindingSecretRef": {"name": f"{name}-eab"}}
    docs = [{"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
             "metadata": {"name": f"{name}-eab", "namespace": ns},
             "data": {"keyID": b64(key_id), "hmacKey": b64(mac)}}]
    if roots:
        docs.append({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                     "metadata": {"name": f"{name}-roots", "namespace": ns},
                     "data": {"ca.crt": b64(roots)}})
        spec["caBundleSecretRef"] = {"name": f"{name}-roots"}
    docs.append({"apiVersion": API_VERSION, "kind": "StarIssuer",
                 "metadata": {"name": name, "namespace": ns}, "spec": spec})
    apply_all(kubectl, docs)


def cdn_order(kubectl: Kubectl, ns: str, name: str, issuer: str, names: list[str], *,
              lifetime: str = "5s", duration: str = "1h",
              lifetime_adjust: str | None = None) -> None:
    """CDN side: a StarOrder through the StarIssuer: only names, lifetime (and its adjust),
    duration, Secret (``<name>-tls``)."""
    adjust = {"lifetimeAdjust": lifetime_adjust} if lifetime_adjust else {}
    kubectl.apply({"apiVersion": API_VERSION, "kind": "StarOrder",
                   "metadata": {"name": name, "namespace": ns},
                   "spec": {"issuerRef": {"name": issuer}, "dnsNames": names,
                            "secretName": f"{name}-tls", "lifetime": lifetime,
                            "duration": duration, **adjust}})


def secrets_holding(kubectl: Kubectl, needle: bytes) -> list[str]:
    """Every Secret value in every namespace of ``kubectl``'s cluster that contains ``needle``
    (the CDN's private key must be in none of the DNO's)."""
    return [f"{s['metadata']['namespace']}/{s['metadata']['name']} {k}"
            for s in kubectl.get_json("secrets", "--all-namespaces")["items"]
            for k, v in (s.get("data") or {}).items() if needle in base64.b64decode(v or "")]

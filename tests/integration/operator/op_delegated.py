"""The CDN's half of a delegated StarOrder, for the DNO-side tests: a key that stays in the
test (never in the cluster) and a CSR for it that fits the test CsrTemplate, and read-outs of
what the CA issued and of every key-shaped thing the DNO's cluster holds."""
from __future__ import annotations

import base64
import ssl
import urllib.error
import urllib.request
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from op_env import StarEnv, csr_template_manifest

from star_devenv.kubectl import Kubectl
from star_operator import pem
from star_operator.csr_template import DomainPolicy, generate_key_and_csr, load_template


def cdn_request(env: StarEnv, names: list[str]) -> tuple[Any, str]:
    """(private key, PEM CSR) as the CDN would make them from the delegation's template."""
    spec = csr_template_manifest("t", env.dns, ["*"], directory_url="", account_key_ref={},
                                 ca_bundle_ref={}, tsig_secret_ref={})["spec"]
    made = generate_key_and_csr(load_template(spec["template"]), DomainPolicy(spec["domains"]),
                                names, "ecdsa-p256", {})
    key = serialization.load_pem_private_key(made.key_pem, None)
    return key, made.csr.public_bytes(serialization.Encoding.PEM).decode()


def spki(key_or_cert: Any) -> bytes:
    public = key_or_cert.public_key()
    return pem.spki_der(public)


def star_get(env: StarEnv, url: str) -> tuple[int, x509.Certificate | None]:
    """Unauthenticated GET of a star-certificate URL, as the CDN does: (status, leaf)."""
    ctx = ssl.create_default_context(cadata=env.root_pem)
    try:
        with urllib.request.urlopen(url, context=ctx, timeout=10) as resp:
            return resp.status, pem.load_chain(resp.read())[0]
    except urllib.error.HTTPError as exc:
        return exc.code, None


def key_material_in_cluster(kubectl: Kubectl, ns: str) -> list[str]:
    """Every place in namespace ``ns`` where a private key could sit: Secrets with a non-empty
    tls.key or staged key, PEM private keys in any Secret value, and StarCertificates."""
    found = []
    for secret in kubectl.get_json("secrets", "-n", ns)["items"]:
        name = secret["metadata"]["name"]
        for field, value in (secret.get("data") or {}).items():
            text = base64.b64decode(value or "").decode(errors="replace")
            if (field in ("tls.key", "staged-tls.key") and value) or "PRIVATE KEY" in text:
                found.append(f"Secret {name} {field}")
    found += [f"StarCertificate {c['metadata']['name']}"
              for c in kubectl.get_json("starcertificates", "-n", ns)["items"]]
    return found

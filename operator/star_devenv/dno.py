"""The domain owner's side in a cluster, as tests and benchmarks set it up: the CRDs, the CA
bundle and TSIG Secrets, and the CsrTemplates their StarOrders name.

Lives in the harness (not in tests/) because the benchmarks in bench/ build the same DNO as the
integration tests, and bench/ must not import from tests/.
"""
from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from star_devenv.kubectl import Kubectl

OPERATOR_NS = "star-operator"


def apply_crds(kubectl: Kubectl, directory: Path) -> None:
    for path in sorted(directory.glob("*.yaml")):
        kubectl.apply(path.read_text())
    for path in sorted(directory.glob("*.yaml")):
        name = path.name.split("_", 1)[1].removesuffix(".yaml") + "." + path.name.split("_")[0]
        kubectl.run("wait", "--for=condition=Established", f"crd/{name}", "--timeout=60s")


def b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def csr_template_manifest(name: str, dns: Any, namespaces: list[str], *, directory_url: str,
                          account_key_ref: dict[str, str], ca_bundle_ref: dict[str, str],
                          tsig_secret_ref: dict[str, str],
                          profile: str | None = None) -> dict[str, Any]:
    """A CsrTemplate for ``dns``'s zone (P-256 keys, one mandatory and two optional names,
    1 s..1 d lifetimes), reaching the CA and BIND through the given Secrets."""
    return {
        "apiVersion": "star.operator.dev/v1alpha1", "kind": "CsrTemplate",
        "metadata": {"name": name},
        "spec": {
            "template": {
                "keyTypes": [{"PublicKeyType": "id-ecPublicKey", "namedCurve": "secp256r1",
                              "SignatureType": "ecdsa-with-SHA256"}],
                "subject": {"commonName": "**"},
                "extensions": {"subjectAltName": {"DNS": ["**", "*", "*"]},
                               "keyUsage": ["digitalSignature"],
                               "extendedKeyUsage": ["serverAuth"]}},
            "domains": [dns.zone],
            "allowedNamespaces": namespaces,
            "star": {"minLifetime": "1s", "maxLifetime": "1d", "maxDuration": "1d"},
            "acme": {"directoryURL": directory_url, "accountKeySecretRef": account_key_ref,
                     "caBundleSecretRef": ca_bundle_ref, **({"profile": profile} if profile
                                                            else {})},
            "dns01": {"rfc2136": {
                "nameserver": f"{dns.host}:{dns.port}", "zone": dns.zone,
                "tsigKeyName": dns.tsig_key_name, "tsigAlgorithm": dns.tsig_algorithm,
                "tsigSecretSecretRef": tsig_secret_ref}},
        },
    }


class StarEnv:
    """The DNO side in the cluster: CA bundle + TSIG Secrets and two CsrTemplates.

    ``ca`` is any CA with a ``directory_url``: star-ca (whose root.pem is the trust bundle), or
    another one whose ``trust_pem`` (HTTPS and issuing roots) is given; ``profile`` goes into
    the templates' ``spec.acme.profile``.
    """

    def __init__(self, kubectl: Kubectl, dns: Any, ca: Any, suffix: str, *,
                 trust_pem: str | None = None, profile: str | None = None) -> None:
        self.kubectl, self.dns, self.ca, self.suffix = kubectl, dns, ca, suffix
        self.template = f"star-test-{suffix}"
        self.restricted = f"restricted-{suffix}"
        self.tsig_secret = f"tsig-{suffix}"
        self.trust_pem, self.profile = trust_pem, profile

    @property
    def root_pem(self) -> str:
        return self.trust_pem or self.ca.root_pem_path.read_text()

    def secret(self, name: str, data: dict[str, str], ns: str = OPERATOR_NS) -> None:
        self.kubectl.apply({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                            "metadata": {"name": name, "namespace": ns},
                            "data": {k: b64(v) for k, v in data.items()}})

    def install(self) -> None:
        if not self.kubectl.exists("namespace", OPERATOR_NS):
            self.kubectl.run("create", "namespace", OPERATOR_NS)
        self.secret(f"ca-{self.suffix}", {"ca.crt": self.root_pem})
        self.set_tsig(self.dns.tsig_secret)
        self.kubectl.apply(self.template_manifest(self.template, ["*"]))
        self.kubectl.apply(self.template_manifest(self.restricted, ["nowhere"]))

    def uninstall(self) -> None:
        self.kubectl.run("delete", "csrtemplate", self.template, self.restricted,
                         "--ignore-not-found", "--wait=false", check=False)

    def set_tsig(self, value: str) -> None:
        self.secret(self.tsig_secret, {"secret": value})

    def template_manifest(self, name: str, namespaces: list[str]) -> dict[str, Any]:
        return csr_template_manifest(
            name, self.dns, namespaces, directory_url=self.ca.directory_url,
            account_key_ref={"name": f"acct-{name}", "namespace": OPERATOR_NS},
            ca_bundle_ref={"name": f"ca-{self.suffix}", "namespace": OPERATOR_NS},
            tsig_secret_ref={"name": self.tsig_secret, "namespace": OPERATOR_NS},
            profile=self.profile)

    def star_order(self, name: str, ns: str, names: list[str], *, lifetime: str = "4s",
                   duration: str = "1h", template: str | None = None,
                   **extra: Any) -> dict[str, Any]:
        return {"apiVersion": "star.operator.dev/v1alpha1", "kind": "StarOrder",
                "metadata": {"name": name, "namespace": ns},
                "spec": {"csrTemplateName": template or self.template, "dnsNames": names,
                         "lifetime": lifetime, "duration": duration,
                         "secretName": f"{name}-tls", **extra}}

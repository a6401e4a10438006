"""No secret leaves its Secret (issue #16): one full run of each path (a native STAR series
at star-ca, an emulated series at star-ca playing a public CA, a STAR delegation through the
front end with an External Account Binding), then every log, Event, custom object with its
status and a metrics scrape is searched for every private key, TSIG secret and EAB MAC key the
run's Secrets hold, in every encoding a careless log line would use. The needles are taken from
the Secrets themselves (also while the series rotates, to catch staged keys), so a new kind of
key material is covered as soon as it is stored."""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import josepy as jose
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from op_env import (OPERATOR_NS, OperatorProcess, StarEnv, public_ca, wait_condition)

from star_devenv.ca import LocalCA
from star_devenv.front_end import LocalFrontEnd
from star_devenv.kubectl import Kubectl
from star_devenv.two_clusters import delegation, mac_key
from tests.integration.delegation.ndc_client import Ndc
from tests.integration.operator.op_delegated import cdn_request
from tests.waiting import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.dns]
SHORT = 10  # seconds: the public CA's "short" profile
KINDS = "starorders,starcertificates,csrtemplates,delegations,starissuers"
MIN_NEEDLE = 16  # shorter values could match by chance; no secret here is that short
Needles = dict[bytes, str]  # needle -> where it came from (for the failure message)


@pytest.fixture(scope="module")
def public_env(kubectl: Kubectl, crds: None, dns_server: Any) -> Iterator[StarEnv]:
    with public_ca(dns_server, {"short": SHORT}) as ca:
        env = StarEnv(kubectl, dns_server, ca, suffix=f"l{uuid.uuid4().hex[:5]}",
                      profile="short")
        env.install()
        yield env
        env.uninstall()


@pytest.fixture
def front_end(control_plane: Any, namespace: str) -> Iterator[LocalFrontEnd]:
    with LocalFrontEnd(control_plane.kubeconfig, namespace) as fe:
        yield fe


# ------------------------------------------------------------------------------- needles

def _encodings(raw: bytes) -> set[bytes]:
    """``raw`` as itself and as base64, base64url (unpadded) and hex."""
    return {raw, base64.b64encode(raw), base64.urlsafe_b64encode(raw).rstrip(b"="),
            binascii.hexlify(raw)}


def _key_needles(pem: bytes) -> set[bytes]:
    """A PEM private key as PEM, PEM body, each DER form in every encoding, and the private
    JWK members (what a dumped josepy key would show)."""
    key = serialization.load_pem_private_key(pem, None)
    lines = pem.strip().splitlines()
    out = {pem.strip(), b"".join(lines[1:-1]), lines[1]}
    for fmt in (serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL):
        out |= _encodings(key.private_bytes(serialization.Encoding.DER, fmt,
                                            serialization.NoEncryption()))
    jwk = jose.JWK.load(pem).to_partial_json()
    out |= {str(jwk[m]).encode() for m in ("d", "p", "q", "dp", "dq", "qi") if m in jwk}
    return out


def _text_secret_needles(value: bytes) -> set[bytes]:
    """A TSIG secret or EAB MAC key: the text as stored and the key bytes it encodes
    (base64 or base64url), in every encoding."""
    text = value.strip()
    out = {text}
    padded = text + b"=" * (-len(text) % 4)
    for decode in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            out |= _encodings(decode(padded))
        except (binascii.Error, ValueError):
            continue
    return out


def secret_needles(kubectl: Kubectl, namespaces: list[str]) -> Needles:
    """Every secret value of every Secret in ``namespaces`` (certificates and CA bundles are
    public and skipped)."""
    needles: Needles = {}
    for ns in namespaces:
        for secret in kubectl.get_json("secrets", "-n", ns)["items"]:
            for field, b64value in (secret.get("data") or {}).items():
                if field == "namespace":  # a service account token's: the namespace's name
                    continue
                raw = base64.b64decode(b64value)
                where = f"{ns}/{secret['metadata']['name']}[{field}]"
                if b"PRIVATE KEY" in raw:
                    found = _key_needles(raw)
                elif b"CERTIFICATE" in raw:
                    continue
                else:
                    found = _text_secret_needles(raw)
                found.add(b64value.encode())
                add(needles, found, where)
    return needles


def add(needles: Needles, found: set[bytes], where: str) -> None:
    """Record ``found`` as coming from ``where`` (as well: two Secrets may hold one TSIG key)."""
    for needle in found:
        if len(needle) >= MIN_NEEDLE and where not in needles.get(needle, ""):
            needles[needle] = f"{needles[needle]} & {where}" if needle in needles else where


# ---------------------------------------------------------------------------- haystacks

def haystacks(kubectl: Kubectl, operator: OperatorProcess, fe: LocalFrontEnd,
              cas: list[LocalCA]) -> dict[str, bytes]:
    """Everything the run wrote where an operator of the cluster (or a scraper) can read it."""
    out = {str(p): p.read_bytes() for p in sorted(operator.log_dir.glob("*.log"))}
    out["front end log"] = fe.log_path.read_bytes()
    out |= {f"star-ca log {ca.base_url}": ca.log_path.read_bytes() for ca in cas}
    out["Events"] = kubectl.run("get", "events", "-A", "-o", "json").stdout.encode()
    out["objects"] = kubectl.run("get", KINDS, "-A", "-o", "json").stdout.encode()
    with urllib.request.urlopen(operator.metrics_url, timeout=10) as resp:
        out["metrics"] = resp.read()
    return out


def test_no_secret_in_logs_events_status_or_metrics(
        kubectl: Kubectl, star_env: StarEnv, public_env: StarEnv, star_ca: LocalCA,
        operator_process: OperatorProcess, namespace: str, front_end: LocalFrontEnd) -> None:
    ns, zone = namespace, star_env.dns.zone
    native, emulated, delegated = (f"{p}-{ns}.{zone}" for p in ("nat", "emu", "del"))
    kubectl.apply(star_env.star_order("nat", ns, [native], lifetime="3s"))
    kubectl.apply(public_env.star_order("emu", ns, [emulated], lifetime=f"{SHORT}s"))

    mac = mac_key()
    delegation(kubectl, ns, "cdn", star_env.template, "cdn-key", mac,
               star={"maxLifetime": "1h"})
    wait_condition(kubectl, "delegation", "cdn", ns, status="True", timeout=60)
    ndc = Ndc(front_end.directory_url, front_end.ca_pem)
    assert ndc.register("cdn-key", mac).status == 201
    new = ndc.post(ndc.directory["newOrder"], {
        "identifiers": [{"type": "dns", "value": delegated}],
        "auto-renewal": {"end-date": _in_an_hour(), "lifetime": 60,
                         "allow-certificate-get": True},
        "delegation": f"{front_end.base_url}/acme/delegation/cdn"})
    assert new.status == 201, new.text
    cdn_key, csr_pem = cdn_request(star_env, [delegated])
    fin = ndc.post(new.body["finalize"], {"csr": _der_b64(csr_pem)})
    assert fin.status == 200, fin.text
    wait_for(lambda: ndc.post(new.headers["Location"]).body["status"] == "valid", 90,
             "Order1 valid")
    for name in ("nat", "emu"):
        wait_condition(kubectl, "starorder", name, ns, status="True", reason="Issued",
                       timeout=120)

    needles: Needles = {}
    watched = [ns, OPERATOR_NS]
    certificates: dict[str, set[str]] = {"nat-tls": set(), "emu-tls": set()}

    def look() -> None:
        for needle, where in secret_needles(kubectl, watched).items():
            add(needles, {needle}, where)

    def both_series_renewed() -> bool:
        """Two renewals of the native series, one of the emulated (a new key each time),
        every Secret read on the way: staged keys only live until their certificate."""
        look()
        for name, seen in certificates.items():
            seen.add(kubectl.get_json("secret", name, "-n", ns)["data"].get("tls.crt", ""))
        return len(certificates["nat-tls"]) >= 3 and len(certificates["emu-tls"]) >= 2
    wait_for(both_series_renewed, 60, "renewals of nat-tls and emu-tls", interval=0.3)

    issued = kubectl.run("get", KINDS, "-A", "-o", "json").stdout.encode()
    kubectl.run("delete", "starorder", "nat", "emu", "-n", ns, "--timeout=60s")  # cancel, revoke
    look()
    add(needles, _key_needles(front_end.key_path.read_bytes()), "front end TLS key")
    for label, key in (("NDC account key", ndc.key.key), ("CDN key", cdn_key)):
        add(needles, _key_needles(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption())), label)
    sources = " & ".join(needles.values())
    for expected in (f"{ns}/nat-tls[tls.key]", f"{ns}/emu-tls[tls.key]", f"{ns}/cdn-eab[hmacKey]",
                     f"{OPERATOR_NS}/{star_env.tsig_secret}[secret]",
                     f"{OPERATOR_NS}/acct-{star_env.template}[tls.key]",
                     f"{OPERATOR_NS}/acct-{public_env.template}[tls.key]"):
        assert expected in sources, (expected, sources)

    stacks = haystacks(kubectl, operator_process, front_end, [star_ca, public_env.ca])
    stacks["objects while issued"] = issued
    for host in (native, emulated, delegated):  # the search looks where the run wrote
        assert host.encode() in issued and host.encode() in stacks[str(operator_process.log_path)]
    leaks = sorted({(where, place) for needle, where in needles.items()
                    for place, text in stacks.items() if needle in text})
    assert not leaks, f"secret material found: {leaks}"



def _in_an_hour() -> str:
    when = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
    return when.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _der_b64(csr_pem: str) -> str:
    der = x509.load_pem_x509_csr(csr_pem.encode()).public_bytes(serialization.Encoding.DER)
    return base64.urlsafe_b64encode(der).decode().rstrip("=")

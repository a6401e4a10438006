"""The CDN's cluster on its own control plane with its own operator: what a CDN user sees
before the DNO's front end answers. The refusals that need no front end: a StarIssuer whose
binding Secret is unusable (the key never in the message), a StarOrder naming no StarIssuer,
and a front end that is down (a backed-off retry; no key staged, nothing ordered)."""
from __future__ import annotations

from star_devenv.kubectl import Kubectl
from star_devenv.processes import free_port
from tests.integration.operator.op_env import b64, get, wait_condition

from two_clusters_fixtures import cdn_ns, cdn_order, star_issuer  # noqa: F401

MAC = b64(b"m" * 32).rstrip("=").replace("+", "-").replace("/", "_")


def test_front_end_down_is_a_retry_and_stages_no_key(cdn_kubectl: Kubectl, cdn_ns: str) -> None:
    down = f"https://127.0.0.1:{free_port()}/directory"
    star_issuer(cdn_kubectl, cdn_ns, "dno", down, "cdn-1", MAC)
    cdn_order(cdn_kubectl, cdn_ns, "www", "dno", ["www.star.test"])
    issuer = wait_condition(cdn_kubectl, "starissuer", "dno", cdn_ns, status="False",
                            reason="FrontEndUnreachable")
    assert down in issuer["status"]["conditions"][0]["message"]
    order = wait_condition(cdn_kubectl, "starorder", "www", cdn_ns, status="False",
                           reason="FrontEndUnreachable")
    assert "orderURL" not in order["status"]
    assert get(cdn_kubectl, "secret", "www-tls", cdn_ns) is None  # no key before a front end


def test_unusable_binding_and_missing_issuer_are_named(cdn_kubectl: Kubectl,
                                                        cdn_ns: str) -> None:
    short = b64(b"tiny-key").rstrip("=")
    star_issuer(cdn_kubectl, cdn_ns, "bad", "https://127.0.0.1:9/directory", "cdn-1", short)
    cdn_order(cdn_kubectl, cdn_ns, "orphan", "nobody", ["www.star.test"])
    issuer = wait_condition(cdn_kubectl, "starissuer", "bad", cdn_ns, status="False",
                            reason="InvalidExternalAccountBinding")
    message = issuer["status"]["conditions"][0]["message"]
    assert "hmacKey decodes to 8 bytes" in message and short not in message
    order = wait_condition(cdn_kubectl, "starorder", "orphan", cdn_ns, status="False",
                           reason="IssuerNotFound")
    assert f"StarIssuer {cdn_ns}/nobody not found" in order["status"]["conditions"][0]["message"]

"""One owner per Secret, one StarOrder per CA order (issue 16, "Ownership"), against the real
control plane, star-ca and BIND 9.

A second StarOrder (or a standalone StarCertificate) naming a Secret that another owns is
refused with Ready=False ``SecretConflict`` and a Warning Event, writes nothing and orders
nothing; the owner's certificate and key stay exactly as its own renewals make them; once the
owner is deleted the second one proceeds by itself.
"""
from __future__ import annotations

import base64

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from op_env import StarEnv, ca_orders, events, get, ready, secret_tls, wait_condition, warned

from star_devenv.kubectl import Kubectl
from tests.waiting import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.dns]

OWNER = "star.operator.dev/owner"
OWNER_KIND = "star.operator.dev/owner-kind"
OWNER_UID = "star.operator.dev/owner-uid"


def host(ns: str, label: str) -> str:
    return f"{label}-{ns}.star.test"


def owner_of(kubectl: Kubectl, ns: str, secret: str) -> tuple[str, str, str]:
    ann = get(kubectl, "secret", secret, ns)["metadata"].get("annotations") or {}
    return ann.get(OWNER_KIND, ""), ann.get(OWNER, ""), ann.get(OWNER_UID, "")


def names_of(crt: bytes) -> list[str]:
    leaf = x509.load_pem_x509_certificates(crt)[0]
    return leaf.extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)


def public_key(key_pem: bytes) -> bytes:
    key = serialization.load_pem_private_key(key_pem, password=None)
    return key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def issued(kubectl: Kubectl, env: StarEnv, ns: str, name: str, names: list[str],
           **extra: str) -> dict:
    kubectl.apply(env.star_order(name, ns, names, lifetime="3s", **extra))
    return wait_condition(kubectl, "starorder", name, ns, status="True", reason="Issued",
                          timeout=120)


def test_a_second_star_order_on_the_same_secret_is_refused_until_the_first_goes(
        kubectl: Kubectl, star_env: StarEnv, operator_process, namespace: str) -> None:
    ns, secret = namespace, "shared-tls"
    first_host, second_host = host(ns, "first"), host(ns, "second")
    first = issued(kubectl, star_env, ns, "first", [first_host], secretName=secret)
    first_uid = first["metadata"]["uid"]
    crt, key, _ = wait_for(lambda: secret_tls(kubectl, ns, secret), 60, "first certificate")
    assert owner_of(kubectl, ns, secret) == ("StarOrder", f"{ns}/first", first_uid)

    kubectl.apply(star_env.star_order("second", ns, [second_host], lifetime="3s",
                                      secretName=secret))
    second = wait_condition(kubectl, "starorder", "second", ns, status="False",
                            reason="SecretConflict", timeout=60)
    message = ready(second)["message"]
    assert f"{ns}/{secret}" in message and f"StarOrder {ns}/first (uid {first_uid})" in message
    wait_for(lambda: warned(kubectl, ns, "second", "SecretConflict"), 30, "a Warning Event")
    assert not second["status"].get("csr") and not second["status"].get("orderURL")

    # Several rotations of the first: every state of the Secret is the first's own.
    serials: list[int] = []

    def first_rotated_three_times() -> bool:
        obj = get(kubectl, "secret", secret, ns)
        assert "staged-tls.key" not in obj["data"], "the second staged a key"
        tls = secret_tls(kubectl, ns, secret)
        assert tls is not None and names_of(tls[0]) == [first_host]
        assert tls[1] == key  # the same key, byte for byte (native STAR keeps it)
        leaf = x509.load_pem_x509_certificates(tls[0])[0]
        assert public_key(tls[1]) == leaf.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        assert owner_of(kubectl, ns, secret) == ("StarOrder", f"{ns}/first", first_uid)
        if not serials or serials[-1] != leaf.serial_number:
            serials.append(leaf.serial_number)
        return len(serials) >= 4

    wait_for(first_rotated_three_times, 90, "three rotations of the first", interval=0.3)
    assert ca_orders(star_env.ca, second_host) == []  # refused before ordering
    assert ready(get(kubectl, "starorder", "second", ns))["reason"] == "SecretConflict"

    # The first lets go: the second takes the Secret over by itself.
    kubectl.run("delete", "starorder", "first", "-n", ns, "--timeout=60s")
    second = wait_condition(kubectl, "starorder", "second", ns, status="True",
                            reason="Issued", timeout=120)
    tls = wait_for(lambda: (t := secret_tls(kubectl, ns, secret)) and
                   names_of(t[0]) == [second_host] and t, 60, "the second's certificate")
    assert tls[1] != key
    assert owner_of(kubectl, ns, secret) == ("StarOrder", f"{ns}/second",
                                             second["metadata"]["uid"])
    assert len(ca_orders(star_env.ca, second_host)) == 1


def standalone(env: StarEnv, name: str, ns: str, *, url: str, secret: str, key_secret: str,
               names: list[str]) -> dict:
    return {"apiVersion": "star.operator.dev/v1alpha1", "kind": "StarCertificate",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"starCertificateURL": url, "secretName": secret,
                     "privateKeySecretRef": {"name": key_secret}, "caBundle": env.root_pem,
                     "dnsNames": names}}


def test_a_star_order_and_a_standalone_star_certificate_cannot_share_a_secret(
        kubectl: Kubectl, star_env: StarEnv, operator_process, namespace: str) -> None:
    ns = namespace
    web_host = host(ns, "web")
    web = issued(kubectl, star_env, ns, "web", [web_host])
    url, web_uid = web["status"]["starCertificateURL"], web["metadata"]["uid"]
    wait_for(lambda: secret_tls(kubectl, ns, "web-tls"), 60, "web's certificate")

    # A standalone StarCertificate aimed at the StarOrder's Secret: its certificates would
    # verify (same URL, same key), and still nothing is written.
    kubectl.apply(standalone(star_env, "intruder", ns, url=url, secret="web-tls",
                             key_secret="web-tls", names=[web_host]))
    intruder = wait_condition(kubectl, "starcertificate", "intruder", ns, status="False",
                              reason="SecretConflict", timeout=60)
    assert f"StarOrder {ns}/web (uid {web_uid})" in ready(intruder)["message"]
    wait_for(lambda: warned(kubectl, ns, "intruder", "SecretConflict", kind="StarCertificate"),
             30, "a Warning Event on the StarCertificate")
    ann = get(kubectl, "secret", "web-tls", ns)["metadata"]["annotations"]
    assert ann["cert-manager.io/certificate-name"] == "web"
    assert owner_of(kubectl, ns, "web-tls") == ("StarOrder", f"{ns}/web", web_uid)

    # The other way round: a standalone StarCertificate owns edge-tls (the key it reads lives
    # in web-tls); a StarOrder naming edge-tls is refused, orders nothing, until it goes.
    kubectl.apply(standalone(star_env, "edge", ns, url=url, secret="edge-tls",
                             key_secret="web-tls", names=[web_host]))
    edge = wait_condition(kubectl, "starcertificate", "edge", ns, status="True", timeout=60)
    wait_for(lambda: secret_tls(kubectl, ns, "edge-tls"), 30, "edge's certificate")
    assert owner_of(kubectl, ns, "edge-tls") == ("StarCertificate", f"{ns}/edge",
                                                 edge["metadata"]["uid"])
    late_host = host(ns, "late")
    kubectl.apply(star_env.star_order("late", ns, [late_host], lifetime="3s",
                                      secretName="edge-tls"))
    late = wait_condition(kubectl, "starorder", "late", ns, status="False",
                          reason="SecretConflict", timeout=60)
    assert f"StarCertificate {ns}/edge" in ready(late)["message"]
    wait_for(lambda: warned(kubectl, ns, "late", "SecretConflict"), 30, "a Warning Event")
    assert "staged-tls.key" not in get(kubectl, "secret", "edge-tls", ns)["data"]
    assert ca_orders(star_env.ca, late_host) == []

    kubectl.run("delete", "starcertificate", "edge", "-n", ns, "--timeout=60s")
    late = wait_condition(kubectl, "starorder", "late", ns, status="True", reason="Issued",
                          timeout=120)
    wait_for(lambda: (t := secret_tls(kubectl, ns, "edge-tls")) and
             names_of(t[0]) == [late_host], 60, "late's certificate in edge-tls")
    assert owner_of(kubectl, ns, "edge-tls") == ("StarOrder", f"{ns}/late",
                                                 late["metadata"]["uid"])
    assert len(ca_orders(star_env.ca, late_host)) == 1
    # The intruder is still refused: web-tls stays web's for as long as web exists.
    assert ready(get(kubectl, "starcertificate", "intruder", ns))["reason"] == "SecretConflict"


def test_a_deleted_secret_frees_it_for_the_waiting_star_order(
        kubectl: Kubectl, star_env: StarEnv, operator_process, namespace: str) -> None:
    ns, secret = namespace, "taken-tls"
    issued(kubectl, star_env, ns, "holder", [host(ns, "holder")], secretName=secret)
    waiting_host = host(ns, "waiting")
    kubectl.apply(star_env.star_order("waiting", ns, [waiting_host], lifetime="3s",
                                      secretName=secret))
    wait_condition(kubectl, "starorder", "waiting", ns, status="False", reason="SecretConflict",
                   timeout=60)
    assert ca_orders(star_env.ca, waiting_host) == []
    kubectl.run("delete", "secret", secret, "-n", ns)  # the holder's key is gone with it
    waiting = wait_condition(kubectl, "starorder", "waiting", ns, status="True",
                             reason="Issued", timeout=120)
    assert owner_of(kubectl, ns, secret) == ("StarOrder", f"{ns}/waiting",
                                             waiting["metadata"]["uid"])
    assert names_of(wait_for(lambda: secret_tls(kubectl, ns, secret), 60, "cert")[0]) \
        == [waiting_host]


def test_a_star_order_never_adopts_another_star_orders_ca_order(
        kubectl: Kubectl, star_env: StarEnv, operator_process, namespace: str) -> None:
    """A copycat asks for the victim's names, lifetime and end-date to the second, and starts
    with the marker of a lost newOrder answer: the victim's (finalized) order matches the
    request, and must not be taken."""
    ns, name = namespace, host(namespace, "victim")
    victim = issued(kubectl, star_env, ns, "victim", [name])
    end, url = victim["status"]["endDate"], victim["status"]["orderURL"]
    operator_process.stop()
    try:
        copy = star_env.star_order("copycat", ns, [name], lifetime="3s", endDate=end)
        del copy["spec"]["duration"]
        kubectl.apply(copy)
        kubectl.run("patch", "starorder", "copycat", "-n", ns, "--subresource=status",
                    "--type=merge", "-p", '{"status": {"phase": "KeyStaged", '
                                          f'"newOrderAt": "{end}"}}}}')
    finally:
        operator_process.start()
    copycat = wait_condition(kubectl, "starorder", "copycat", ns, status="True",
                             reason="Issued", timeout=120)
    assert copycat["status"]["orderURL"] != url
    assert "OrderAdopted" not in [e["reason"] for e in events(kubectl, ns, "copycat")]
    assert sorted(s for _, s in ca_orders(star_env.ca, name)) == ["valid", "valid"]
    assert ready(get(kubectl, "starorder", "victim", ns))["status"] == "True"
    vkey = base64.b64decode(get(kubectl, "secret", "victim-tls", ns)["data"]["tls.key"])
    ckey = base64.b64decode(get(kubectl, "secret", "copycat-tls", ns)["data"]["tls.key"])
    assert public_key(vkey) != public_key(ckey)

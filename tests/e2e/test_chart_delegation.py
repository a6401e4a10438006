"""The chart's delegation front end: rendered (`helm template`, off by default, its own
Deployment/Service/ServiceAccount, least-privilege RBAC, the TLS Secret, refusals of unsafe
values), and installed into the real control plane, where the real front end runs on the host
under the chart ServiceAccount's token only, through a whole NDC flow (EAB account, delegation
object, newOrder, finalize creating the StarOrder, poll, cancel) with nothing refused; and what
that identity may not do (other Secrets, StarOrder status, deletes, the DNO's own Secrets)."""
from __future__ import annotations

import base64
import datetime as dt
import types
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from star_devenv.front_end import LocalFrontEnd
from star_devenv.kubectl import Kubectl
from star_operator.csr_template import DomainPolicy, generate_key_and_csr, load_template
from tests.e2e.helm_helpers import CHART, Helm, container, kinds, one, rules_grant, values_args
from tests.e2e.test_chart_rbac import minted_token, token_kubeconfig
from tests.integration.delegation.ndc_client import Ndc
from tests.integration.operator.op_env import OPERATOR_NS, b64, csr_template_manifest, get

NS = "star-system"
NAME = "rel-star-operator-delegation"
ON = {"delegation": {"enabled": True, "namespace": "cdn-grants",
                     "tls": {"secretName": "front-end-tls"},
                     "baseURL": "https://acme.dno.example"}}
GROUP = "star.operator.dev"


# -- rendering ---------------------------------------------------------------------------

def test_off_by_default(helm: Helm) -> None:
    assert not [o for o in helm.render() if "delegation" in o["metadata"]["name"]]


def test_lint_with_the_front_end(helm: Helm) -> None:
    assert "0 chart(s) failed" in helm.run("lint", "--strict", str(CHART),
                                           *values_args(ON)).stdout


def test_front_end_objects_and_pod(helm: Helm) -> None:
    objs = [o for o in helm.render(ON) if o["metadata"]["name"] == NAME]
    assert kinds(objs) == {"Deployment", "Service", "ServiceAccount", "Role", "RoleBinding",
                           "ClusterRole", "ClusterRoleBinding"}
    dep = one(objs, "Deployment", NAME)
    spec = dep["spec"]["template"]["spec"]
    assert dep["spec"]["replicas"] == 1 and spec["serviceAccountName"] == NAME
    fe = container(dep, "front-end")
    assert fe["command"] == ["python", "-m", "star_operator.delegation"]
    env = {e["name"]: e["value"] for e in fe["env"]}
    assert env["STAR_DELEGATION_NAMESPACE"] == "cdn-grants"
    assert env["STAR_DELEGATION_BASE_URL"] == "https://acme.dno.example"
    assert env["STAR_DELEGATION_TLS_CERT"].startswith("/etc/star-delegation/tls/")
    assert spec["volumes"] == [{"name": "tls", "secret": {"secretName": "front-end-tls"}}]
    assert fe["readinessProbe"]["httpGet"] == {"path": "/directory", "port": "https",
                                               "scheme": "HTTPS"}
    assert fe["securityContext"]["readOnlyRootFilesystem"] is True
    svc = one(objs, "Service", NAME)
    assert svc["spec"]["ports"][0]["targetPort"] == "https"
    assert svc["spec"]["selector"].items() <= dep["spec"]["template"]["metadata"][
        "labels"].items()
    assert svc["spec"]["selector"]["app.kubernetes.io/component"] == "delegation"


def test_front_end_rbac_is_exactly_what_it_calls(helm: Helm) -> None:
    objs = helm.render(ON)
    role = one(objs, "Role", NAME)
    assert role["metadata"]["namespace"] == "cdn-grants"
    rules = role["rules"]
    assert rules_grant(rules, GROUP, "delegations") == {"get", "list"}
    assert rules_grant(rules, GROUP, "delegations/status") == {"patch"}
    assert rules_grant(rules, GROUP, "starorders") == {"get", "list", "create", "patch"}
    assert rules_grant(rules, GROUP, "starorders/status") == set()
    assert rules_grant(rules, "", "secrets") == {"get"}
    assert len(rules) == 4
    assert one(objs, "ClusterRole", NAME)["rules"] == [
        {"apiGroups": [GROUP], "resources": ["csrtemplates"], "verbs": ["get"]}]
    operator = one(objs, "ClusterRole", "rel-star-operator")["rules"]
    assert rules_grant(operator, GROUP, "delegations") == {"list", "watch", "patch"}
    assert rules_grant(operator, GROUP, "delegations/status") == {"patch"}


@pytest.mark.parametrize(("values", "expected"), [
    ({"delegation": {"enabled": True, "tls": {"secretName": "t"}}},
     "delegation.namespace is required"),
    ({"delegation": {"enabled": True, "namespace": "cdn-grants"}},
     "delegation.tls.secretName is required"),
    ({"delegation": {"enabled": True, "namespace": NS, "tls": {"secretName": "t"}}},
     f"delegation.namespace ({NS}) must differ from the operator's secrets namespace"),
    ({"delegation": {"baseURL": "http://plain.example"}}, "at '/delegation/baseURL'"),
    ({"delegation": {"maxDuration": "a year"}}, "at '/delegation/maxDuration'"),
], ids=["no-namespace", "no-tls", "secrets-namespace", "http-base-url", "bad-duration"])
def test_unsafe_or_incomplete_values_are_refused(helm: Helm, values: dict[str, Any],
                                                 expected: str) -> None:
    proc = helm.template(values=values, check=False)
    assert proc.returncode != 0 and expected in proc.stderr, proc.stderr


# -- installed: the front end's own requests under its ServiceAccount --------------------

TEMPLATE_DNS = types.SimpleNamespace(zone="star.test", host="127.0.0.1", port=53,
                                     tsig_key_name="k", tsig_algorithm="hmac-sha256")


@pytest.fixture(scope="module")
def installed(control_plane: Any, kubectl: Kubectl, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[dict[str, Any]]:
    suffix = uuid.uuid4().hex[:6]
    ns, grants = f"fe-{suffix}", f"grants-{suffix}"
    for name in (ns, grants):
        kubectl.run("create", "namespace", name)
    if not kubectl.exists("namespace", OPERATOR_NS):
        kubectl.run("create", "namespace", OPERATOR_NS)
    release = f"fe-{suffix}"
    helm = Helm(control_plane.kubeconfig)
    helm.install(release, ns, {"operator": {"secretsNamespace": OPERATOR_NS},
                               "delegation": {"enabled": True, "namespace": grants,
                                              "tls": {"secretName": "front-end-tls"}}})
    sa = f"{release}-star-operator-delegation"
    token = minted_token(kubectl, control_plane, ns, sa)
    kubeconfig = token_kubeconfig(Path(control_plane.kubeconfig), token, ns,
                                  tmp_path_factory.mktemp("fe") / "kubeconfig")
    template = f"fe-{suffix}"
    kubectl.apply(csr_template_manifest(
        template, TEMPLATE_DNS, [grants], directory_url="https://ca.invalid/directory",
        account_key_ref={"name": "acct"}, ca_bundle_ref={"name": "ca"},
        tsig_secret_ref={"name": "tsig"}))
    yield {"ns": ns, "grants": grants, "sa": sa, "kubeconfig": kubeconfig,
           "template": template, "release": release}
    kubectl.run("delete", "csrtemplate", template, "--wait=false", check=False)
    helm.uninstall(release, ns)
    helm.close()
    for name in (ns, grants):
        kubectl.run("delete", "namespace", name, "--wait=false", check=False)


def test_ndc_flow_under_the_front_end_service_account(installed: dict[str, Any],
                                                      kubectl: Kubectl) -> None:
    grants = installed["grants"]
    mac = base64.urlsafe_b64encode(uuid.uuid4().bytes * 2).decode().rstrip("=")
    kubectl.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {
        "name": "cdn-eab", "namespace": grants}, "data": {"hmacKey": b64(mac)}})
    kubectl.apply({"apiVersion": f"{GROUP}/v1alpha1", "kind": "Delegation",
                   "metadata": {"name": "cdn", "namespace": grants},
                   "spec": {"csrTemplateName": installed["template"],
                            "externalAccountBinding": {"keyID": "cdn-key",
                                                       "hmacKeySecretRef": {"name": "cdn-eab"}}}})
    with LocalFrontEnd(installed["kubeconfig"], grants) as fe:
        ndc = Ndc(fe.directory_url, fe.ca_pem)
        assert ndc.register("cdn-key", mac).status == 201                 # list, get, patch
        (url,) = ndc.post(ndc.kid + "/delegations").body["delegations"]
        assert "csr-template" in ndc.post(url).body                        # csrtemplates get
        host = f"www.{TEMPLATE_DNS.zone}"
        end = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)).strftime(
            "%Y-%m-%dT%H:%M:%SZ")
        new = ndc.post(ndc.directory["newOrder"], {
            "identifiers": [{"type": "dns", "value": host}], "delegation": url,
            "auto-renewal": {"end-date": end, "lifetime": 60, "allow-certificate-get": True}})
        assert new.status == 201, new.text                                  # status patch
        spec = csr_template_manifest("t", TEMPLATE_DNS, ["*"], directory_url="",
                                     account_key_ref={}, ca_bundle_ref={},
                                     tsig_secret_ref={})["spec"]
        made = generate_key_and_csr(load_template(spec["template"]),
                                    DomainPolicy(spec["domains"]), [host], "ecdsa-p256", {})
        der = made.csr.public_bytes(serialization.Encoding.DER)
        fin = ndc.post(new.body["finalize"], {
            "csr": base64.urlsafe_b64encode(der).decode().rstrip("=")})
        assert fin.status == 200, fin.text                                  # starorders create
        order_url = new.headers["Location"]
        assert ndc.post(order_url).body["status"] == "processing"           # starorders get
        assert ndc.post(ndc.kid + "/orders").body["orders"] == [order_url]   # starorders list
        assert ndc.post(order_url, {"status": "canceled"}).status == 200    # starorders patch
        log = fe.log_path.read_text()
    assert "Forbidden" not in log and "forbidden" not in log, log
    so = get(kubectl, "starorder", f"cdn-{order_url.rsplit('/', 1)[1]}", grants)
    assert so["spec"]["canceled"] is True


def _can_i(kubeconfig: Path, verb: str, resource: str, namespace: str | None) -> bool:
    resource, _, sub = resource.partition("/")
    args = ["auth", "can-i", verb, resource] + (["-n", namespace] if namespace else [])
    args += [f"--subresource={sub}"] if sub else []
    out = Kubectl(kubeconfig).run(*args, check=False).stdout.strip()
    assert out in ("yes", "no"), out
    return out == "yes"


def test_what_the_front_end_identity_may_not_do(installed: dict[str, Any]) -> None:
    kc, grants = installed["kubeconfig"], installed["grants"]
    assert _can_i(kc, "get", "secrets", grants)
    for verb, resource, where in [
            ("list", "secrets", grants), ("get", "secrets", OPERATOR_NS),
            ("get", "secrets", installed["ns"]), ("create", "secrets", grants),
            ("delete", f"starorders.{GROUP}", grants), ("update", f"starorders.{GROUP}", grants),
            ("patch", f"starorders.{GROUP}/status", grants),
            ("create", f"starorders.{GROUP}", installed["ns"]),
            ("create", f"delegations.{GROUP}", grants), ("patch", f"delegations.{GROUP}", grants),
            ("delete", f"delegations.{GROUP}", grants),
            ("patch", f"csrtemplates.{GROUP}", None), ("list", f"csrtemplates.{GROUP}", None),
            ("create", "pods", grants), ("create", "serviceaccounts/token", grants)]:
        assert not _can_i(kc, verb, resource, where), f"may {verb} {resource} in {where}"

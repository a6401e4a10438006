"""`helm lint` and `helm template` of charts/star-operator with the real helm binary (no cluster).

Default values, a non-default set (namespace-limited RBAC, embedded CA, ServiceMonitor, image
overrides), the embedded CA playing a public CA (profiles, no STAR, no ARI), and
values.schema.json / template checks rejecting bad values with a clear message.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from star_ca.config import config_from_args

from star_devenv.chart_on_node import Release, chart_values, operator_values

from tests.e2e.helm_helpers import (CHART, Helm, container, find, kinds, one, rules_grant,
                                    values_args)

NS = "star-system"
FULL = "rel-star-operator"
NON_DEFAULT: dict[str, Any] = {
    "watchNamespaces": ["cdn-a", "cdn-b"],
    "image": {"repository": "registry.example/star", "tag": "1.2.3", "pullPolicy": "Never"},
    "operator": {"logLevel": "debug", "env": {"STAR_OPERATOR_FETCH_JITTER_MAX": "30"}},
    "metrics": {"enabled": True, "port": 9191, "serviceMonitor": {"enabled": True}},
    "ca": {"enabled": True, "dnsServer": "10.0.0.53:53", "minLifetime": 60,
           "caaIdentities": ["ca.example", "star-ca.test"]},
}
# The embedded CA playing a public CA (docs/star-ca.md): profiles, no STAR, no ARI.
PUBLIC_CA: dict[str, Any] = {
    "ca": {"enabled": True, "star": False, "ari": False, "defaultProfile": "classic",
           "profiles": {"shortlived": "160h", "classic": 7776000, "short": "6"}},
}
PUBLIC_CA_ENV = ("STAR_CA_PROFILES", "STAR_CA_DEFAULT_PROFILE", "STAR_CA_NO_STAR",
                 "STAR_CA_NO_ARI")


@pytest.fixture(scope="module")
def default(helm: Helm) -> list[dict[str, Any]]:
    return helm.render()


@pytest.fixture(scope="module")
def custom(helm: Helm) -> list[dict[str, Any]]:
    return helm.render(NON_DEFAULT)


@pytest.mark.parametrize("values", [None, NON_DEFAULT, {"metrics": {"enabled": False}},
                                    {"rbac": {"create": False},
                                     "serviceAccount": {"create": False, "name": "mine"}},
                                    PUBLIC_CA],
                         ids=["default", "non-default", "no-metrics", "no-rbac", "public-ca"])
def test_helm_lint_strict(helm: Helm, values: dict[str, Any] | None) -> None:
    out = helm.run("lint", "--strict", str(CHART), *values_args(values)).stdout
    assert "0 chart(s) failed" in out


# -- defaults ----------------------------------------------------------------------------

def test_default_renders_operator_only_cluster_wide(default: list[dict[str, Any]]) -> None:
    assert kinds(default) == {"ServiceAccount", "ClusterRole", "ClusterRoleBinding",
                              "Deployment", "Service"}
    assert not find(default, "ServiceMonitor")
    assert all(o["metadata"].get("namespace", NS) == NS for o in default)
    for o in default:
        labels = o["metadata"]["labels"]
        assert labels["app.kubernetes.io/instance"] == "rel"
        assert labels["app.kubernetes.io/managed-by"] == "Helm"


def test_default_deployment_is_hardened(default: list[dict[str, Any]]) -> None:
    dep = one(default, "Deployment", FULL)
    spec = dep["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}
    pod = spec["template"]["spec"]
    assert pod["serviceAccountName"] == FULL
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    c = container(dep, "operator")
    assert c["image"] == "star-operator:0.1.0"
    assert c["imagePullPolicy"] == "IfNotPresent"
    sc = c["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["runAsNonRoot"] is True
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert c["resources"]["requests"] and c["resources"]["limits"]["memory"]
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"health": 8080, "metrics": 9090}
    assert c["command"] == ["star-operator"]
    assert c["args"] == ["--all-namespaces", "--liveness=http://0.0.0.0:8080/healthz",
                         "--metrics-port=9090", "--verbose"]
    assert {"name": "STAR_OPERATOR_NAMESPACE", "value": NS} in c["env"]


def test_default_metrics_service_selects_the_operator(default: list[dict[str, Any]]) -> None:
    svc = one(default, "Service", f"{FULL}-metrics")
    dep = one(default, "Deployment", FULL)
    pod_labels = dep["spec"]["template"]["metadata"]["labels"]
    assert svc["spec"]["selector"].items() <= pod_labels.items()
    assert svc["spec"]["ports"] == [{"name": "metrics", "port": 9090, "targetPort": "metrics",
                                     "protocol": "TCP"}]


def test_default_rbac_is_exactly_the_verbs_used(default: list[dict[str, Any]]) -> None:
    rules = one(default, "ClusterRole", FULL)["rules"]
    g = "star.operator.dev"
    assert rules_grant(rules, g, "starorders") == {"list", "watch", "patch"}
    assert rules_grant(rules, g, "starcertificates") == {"get", "list", "watch", "create", "patch"}
    assert rules_grant(rules, g, "csrtemplates") == {"get", "list", "watch", "patch"}
    assert rules_grant(rules, g, "starissuers") == {"get", "list", "watch", "patch"}
    for sub in ("starorders/status", "starcertificates/status", "csrtemplates/status",
                "starissuers/status"):
        assert rules_grant(rules, g, sub) == {"patch"}
    assert rules_grant(rules, "", "secrets") == {"get", "create", "update", "delete"}
    assert rules_grant(rules, "", "events") == {"create"}
    assert rules_grant(rules, "apiextensions.k8s.io", "customresourcedefinitions") == {
        "list", "watch"}
    assert rules_grant(rules, "", "namespaces") == set()  # cluster-wide kopf does not scan them
    assert not any("*" in r["verbs"] or "*" in r["resources"] or "*" in r["apiGroups"]
                   for r in rules)
    binding = one(default, "ClusterRoleBinding", FULL)
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": FULL, "namespace": NS}]
    assert binding["roleRef"]["name"] == FULL


# -- non-default values ------------------------------------------------------------------

def test_namespace_limited_mode_gives_roles_only_where_asked(custom: list[dict[str, Any]]) -> None:
    cluster = one(custom, "ClusterRole", FULL)["rules"]
    assert rules_grant(cluster, "", "secrets") == set()
    assert rules_grant(cluster, "star.operator.dev", "starorders") == set()
    assert rules_grant(cluster, "star.operator.dev", "csrtemplates") == {"get", "list", "watch",
                                                                       "patch"}
    assert rules_grant(cluster, "", "namespaces") == {"list", "watch"}
    roles = {r["metadata"]["namespace"]: r["rules"] for r in find(custom, "Role", FULL)}
    assert set(roles) == {"cdn-a", "cdn-b", NS}
    for ns in ("cdn-a", "cdn-b"):
        assert rules_grant(roles[ns], "", "secrets") == {"get", "create", "update", "delete"}
        assert rules_grant(roles[ns], "star.operator.dev", "starorders") == {"list", "watch",
                                                                           "patch"}
    # Its own namespace: Events about cluster-scoped CsrTemplates, and the Secrets they name.
    assert rules_grant(roles[NS], "", "events") == {"create"}
    assert rules_grant(roles[NS], "", "secrets") == {"get", "create"}
    assert rules_grant(roles[NS], "star.operator.dev", "starorders") == set()
    bindings = find(custom, "RoleBinding", FULL)
    assert {b["metadata"]["namespace"] for b in bindings} == {"cdn-a", "cdn-b", NS}
    dep = one(custom, "Deployment", FULL)
    args = container(dep, "operator")["args"]
    assert args[:2] == ["--namespace=cdn-a", "--namespace=cdn-b"]
    assert "--all-namespaces" not in args and "--debug" in args


def test_secrets_namespace_elsewhere_gets_its_own_role(helm: Helm) -> None:
    objs = helm.render({"watchNamespaces": ["cdn-a"], "operator": {"secretsNamespace": "dno"}})
    roles = {r["metadata"]["namespace"]: r["rules"] for r in find(objs, "Role", FULL)}
    assert set(roles) == {"cdn-a", NS, "dno"}
    assert rules_grant(roles["dno"], "", "secrets") == {"get", "create"}
    assert rules_grant(roles["dno"], "", "events") == set()
    assert rules_grant(roles[NS], "", "secrets") == set()
    env = container(one(objs, "Deployment", FULL), "operator")["env"]
    assert {"name": "STAR_OPERATOR_NAMESPACE", "value": "dno"} in env


def test_limited_mode_reads_only_the_ca_root_secret_in_its_own_namespace(helm: Helm) -> None:
    objs = helm.render({"watchNamespaces": ["cdn-a"], "operator": {"secretsNamespace": "dno"},
                        "ca": {"enabled": True}})
    own = one(objs, "Role", FULL, NS)["rules"]
    secret_rules = [r for r in own if r["resources"] == ["secrets"]]
    assert secret_rules == [{"apiGroups": [""], "resources": ["secrets"],
                             "resourceNames": [f"{FULL}-ca-root"], "verbs": ["get"]}]


def test_image_metrics_and_env_overrides(custom: list[dict[str, Any]]) -> None:
    c = container(one(custom, "Deployment", FULL), "operator")
    assert c["image"] == "registry.example/star:1.2.3"
    assert c["imagePullPolicy"] == "Never"
    assert "--metrics-port=9191" in c["args"]
    assert {"name": "STAR_OPERATOR_FETCH_JITTER_MAX", "value": "30"} in c["env"]
    sm = one(custom, "ServiceMonitor", FULL)
    assert sm["spec"]["endpoints"][0]["port"] == "metrics"
    assert sm["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "operator"


def test_metrics_disabled(helm: Helm) -> None:
    objs = helm.render({"metrics": {"enabled": False}})
    assert not find(objs, "Service")
    c = container(one(objs, "Deployment", FULL), "operator")
    assert "--metrics-port=0" in c["args"]
    assert [p["name"] for p in c["ports"]] == ["health"]


def test_embedded_ca(custom: list[dict[str, Any]]) -> None:
    name = f"{FULL}-ca"
    dep = one(custom, "Deployment", name)
    assert dep["spec"]["replicas"] == 1 and dep["spec"]["strategy"] == {"type": "Recreate"}
    ca = container(dep, "ca")
    assert ca["command"] == ["star-ca", "serve"]
    assert ca["image"] == "registry.example/star:1.2.3"
    env = {e["name"]: e["value"] for e in ca["env"]}
    assert env["STAR_CA_LISTEN"] == "0.0.0.0:14000"
    assert env["STAR_CA_DATA_DIR"] == "/var/lib/star-ca"
    assert env["STAR_CA_DNS_SERVER"] == "10.0.0.53:53"
    assert env["STAR_CA_CAA_IDENTITIES"] == "ca.example,star-ca.test"
    assert env["STAR_CA_MIN_LIFETIME"] == "60"
    assert env["STAR_CA_MAX_DURATION"] == "31536000"
    assert f"{name}.{NS}.svc" in env["STAR_CA_TLS_NAMES"].split(",")
    for c in dep["spec"]["template"]["spec"]["containers"]:
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        assert c["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    volumes = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
    assert volumes["data"]["persistentVolumeClaim"] == {"claimName": name}
    pvc = one(custom, "PersistentVolumeClaim", name)
    assert pvc["spec"]["resources"]["requests"]["storage"] == "1Gi"
    svc = one(custom, "Service", name)
    assert svc["spec"]["ports"][0]["port"] == 14000
    assert svc["spec"]["selector"]["app.kubernetes.io/component"] == "ca"
    # The root is published into a Secret the chart owns; the CA's identity may touch only it.
    secret = one(custom, "Secret", f"{FULL}-ca-root")
    assert "data" not in secret
    publisher = container(dep, "publish-root")
    penv = {e["name"]: e["value"] for e in publisher["env"]}
    assert penv["SECRET_NAME"] == f"{FULL}-ca-root"
    assert penv["ROOT_PEM"] == "/var/lib/star-ca/root.pem"
    assert dep["spec"]["template"]["spec"]["serviceAccountName"] == name
    role = one(custom, "Role", name, NS)
    assert role["rules"] == [{"apiGroups": [""], "resources": ["secrets"],
                              "resourceNames": [f"{FULL}-ca-root"], "verbs": ["get", "patch"]}]
    script = one(custom, "ConfigMap", f"{FULL}-ca-publisher")["data"]["publish-ca-root.py"]
    assert "k8s.secret_path(namespace, name)" in script  # the operator's own client


def ca_env(objs: list[dict[str, Any]]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container(one(objs, "Deployment", f"{FULL}-ca"),
                                                     "ca")["env"]}


def test_embedded_ca_is_a_star_ca_with_ari_and_no_profiles_by_default(
        custom: list[dict[str, Any]]) -> None:
    env = ca_env(custom)
    assert not set(PUBLIC_CA_ENV) & set(env)
    assert "STAR_CA_LISTEN" in env


def test_embedded_ca_playing_a_public_ca(helm: Helm) -> None:
    env = ca_env(helm.render(PUBLIC_CA))
    # Sorted by name; integers as whole seconds, strings as star-ca reads them (6, 160h).
    assert env["STAR_CA_PROFILES"] == "classic=7776000,short=6,shortlived=160h"
    assert env["STAR_CA_DEFAULT_PROFILE"] == "classic"
    assert env["STAR_CA_NO_STAR"] == "true"
    assert env["STAR_CA_NO_ARI"] == "true"
    # star-ca itself reads the rendered environment as meant.
    config = config_from_args(["serve"], env)
    assert config.profiles.offered == (("classic", 7776000), ("short", 6), ("shortlived", 576000))
    assert config.profiles.default == "classic"
    assert config.star is False and config.ari is False
    # Each setting alone renders only its own variable; --set gives YAML's int64 numbers.
    only = ca_env(helm.render(None, "--set", "ca.enabled=true", "--set", "ca.profiles.short=60"))
    assert only["STAR_CA_PROFILES"] == "short=60"
    assert not {"STAR_CA_DEFAULT_PROFILE", "STAR_CA_NO_STAR", "STAR_CA_NO_ARI"} & set(only)
    no_ari = ca_env(helm.render({"ca": {"enabled": True, "ari": False}}))
    assert no_ari["STAR_CA_NO_ARI"] == "true"
    assert not {"STAR_CA_PROFILES", "STAR_CA_NO_STAR"} & set(no_ari)


def test_embedded_ca_without_persistence_uses_emptydir(helm: Helm) -> None:
    objs = helm.render({"ca": {"enabled": True, "persistence": {"enabled": False}}})
    assert not find(objs, "PersistentVolumeClaim")
    dep = one(objs, "Deployment", f"{FULL}-ca")
    volumes = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
    assert volumes["data"] == {"name": "data", "emptyDir": {}}


def test_embedded_ca_replicas_on_a_shared_database(helm: Helm) -> None:
    """N pods on the PostgreSQL database a Secret names: the URL (it has a password) reaches
    the CA only by secretKeyRef, nothing is rendered with it, and no SQLite volume is made."""
    objs = helm.render({"ca": {"enabled": True, "replicas": 3,
                               "database": {"urlSecretRef": {"name": "ca-db", "key": "dsn"}}}})
    dep = one(objs, "Deployment", f"{FULL}-ca")
    assert dep["spec"]["replicas"] == 3 and dep["spec"]["strategy"] == {"type": "RollingUpdate"}
    env = {e["name"]: e for e in container(dep, "ca")["env"]}
    assert env["STAR_CA_DATABASE_URL"] == {"name": "STAR_CA_DATABASE_URL", "valueFrom": {
        "secretKeyRef": {"name": "ca-db", "key": "dsn"}}}
    assert not find(objs, "PersistentVolumeClaim")
    volumes = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
    assert volumes["data"] == {"name": "data", "emptyDir": {}}
    assert "STAR_CA_DATABASE_URL" not in {e["name"] for e in
                                          container(dep, "publish-root")["env"]}


def test_host_network_on_loopback_with_api_server_env(helm: Helm) -> None:
    """A node without pod network or kube-proxy (see tests/e2e/test_node_e2e.py)."""
    api = [{"name": "KUBERNETES_SERVICE_HOST", "value": "127.0.0.1"},
           {"name": "KUBERNETES_SERVICE_PORT", "value": "6443"}]
    objs = helm.render({"hostNetwork": True, "listenAddress": "127.0.0.1",
                        "operator": {"extraEnv": api}, "ca": {"enabled": True, "extraEnv": api}})
    op = one(objs, "Deployment", FULL)
    ca = one(objs, "Deployment", f"{FULL}-ca")
    assert op["spec"]["template"]["spec"]["hostNetwork"] is True
    assert ca["spec"]["template"]["spec"]["hostNetwork"] is True
    c = container(op, "operator")
    assert "--liveness=http://127.0.0.1:8080/healthz" in c["args"]
    assert {"name": "STAR_OPERATOR_METRICS_ADDRESS", "value": "127.0.0.1"} in c["env"]
    assert all(e in c["env"] for e in api)
    assert {"name": "STAR_CA_LISTEN", "value": "127.0.0.1:14000"} in container(ca, "ca")["env"]
    assert all(e in container(ca, name)["env"] for e in api for name in ("ca", "publish-root"))
    default = helm.render({"ca": {"enabled": True}})
    assert "hostNetwork" not in one(default, "Deployment", FULL)["spec"]["template"]["spec"]
    assert "hostNetwork" not in one(default, "Deployment", f"{FULL}-ca")["spec"]["template"]["spec"]


def test_node_values_of_the_operator_alone(helm: Helm, tmp_path: Path) -> None:
    """star_devenv.chart_on_node's values for a CDN on the node (test_two_clusters_node): the
    operator only, host network on loopback, the imported image, the API server's loopback
    port, limited to the CDN's namespace; no CA object. chart_values adds the CA with the same
    API server address."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "current-context": "c", "contexts": [{"name": "c", "context": {"cluster": "k"}}],
        "clusters": [{"name": "k", "cluster": {"server": "https://127.0.0.1:6443"}}]}))
    rel = Release("rel", NS, "cdn-a", {"health": 18080, "metrics": 19090, "ca": 14001,
                                       "edge": 8443})
    api = {"name": "KUBERNETES_SERVICE_PORT", "value": "6443"}
    objs = helm.render({**operator_values(rel, "docker.io/star-operator:t1", kubeconfig),
                        "watchNamespaces": ["cdn-a"]})
    assert not [o for o in objs if o["metadata"]["name"].startswith(f"{FULL}-ca")]
    op = one(objs, "Deployment", FULL)
    assert op["spec"]["template"]["spec"]["hostNetwork"] is True
    c = container(op, "operator")
    assert (c["image"], c["imagePullPolicy"]) == ("docker.io/star-operator:t1", "Never")
    assert "--liveness=http://127.0.0.1:18080/healthz" in c["args"]
    assert "--metrics-port=19090" in c["args"] and "--namespace=cdn-a" in c["args"]
    assert api in c["env"]
    with_ca = helm.render(chart_values(rel, "docker.io/star-operator:t1", kubeconfig,
                                       "127.0.0.1:53"))
    ca = container(one(with_ca, "Deployment", f"{FULL}-ca"), "ca")
    assert api in ca["env"] and {"name": "STAR_CA_LISTEN", "value": "127.0.0.1:14001"} in ca["env"]


def test_notes_tell_what_to_apply_next(helm: Helm) -> None:
    out = helm.run("install", "rel", str(CHART), "--namespace", NS, "--dry-run=client",
                   "--set", "ca.enabled=true", "--set", "watchNamespaces={cdn-a}").stdout
    notes = out[out.index("NOTES:"):]
    assert "CsrTemplate" in notes and "StarOrder" in notes
    assert f"https://{FULL}-ca.{NS}.svc:14000/directory" in notes
    assert f"caBundleSecretRef: {{name: {FULL}-ca-root, namespace: {NS}, key: ca.crt}}" in notes
    assert "only in: cdn-a" in notes
    assert "helm uninstall" in notes


# -- rejected values ---------------------------------------------------------------------

@pytest.mark.parametrize(("values", "expected"), [
    ({"watchNamespaces": ["Bad_NS"]},
     ["at '/watchNamespaces/0'", "'Bad_NS' does not match pattern"]),
    ({"watchNamespaces": ["a", "a"]}, ["at '/watchNamespaces'", "items at 0 and 1 are equal"]),
    ({"image": {"pullPolicy": "Sometimes"}},
     ["at '/image/pullPolicy'", "value must be one of 'Always', 'IfNotPresent', 'Never'"]),
    ({"watchNamespace": ["a"]}, ["additional properties 'watchNamespace' not allowed"]),
    ({"ca": {"port": 70000}}, ["at '/ca/port'", "maximum"]),
    ({"operator": {"logLevel": "loud"}}, ["at '/operator/logLevel'", "value must be one of"]),
    ({"operator": {"env": {"PATH": "/x"}}}, ["'PATH' does not match pattern '^STAR_OPERATOR_"]),
    ({"operator": {"env": {"STAR_OPERATOR_POLL_MIN": 1}}},
     ["at '/operator/env/STAR_OPERATOR_POLL_MIN'", "want string"]),
    ({"resources": {"limits": {"memory": "lots"}}}, ["at '/resources/limits/memory'"]),
    ({"ca": {"keyType": "dsa"}}, ["at '/ca/keyType'", "value must be one of"]),
    ({"ca": {"dnsServer": "not a host"}}, ["at '/ca/dnsServer'", "does not match pattern"]),
    ({"metrics": {"serviceMonitor": {"interval": "often"}}},
     ["at '/metrics/serviceMonitor/interval'"]),
    ({"ca": {"profiles": {"short": "2w"}}},
     ["at '/ca/profiles/short'", "'2w' does not match pattern '^[0-9]*[1-9][0-9]*[smhd]?$'"]),
    ({"ca": {"profiles": {"short": 0}}}, ["at '/ca/profiles/short'", "minimum: got 0, want 1"]),
    ({"ca": {"profiles": {"a,b": "6"}}}, ["invalid propertyName 'a,b'"]),
    ({"ca": {"defaultProfile": "no good"}}, ["at '/ca/defaultProfile'", "does not match pattern"]),
    ({"ca": {"star": "no"}}, ["at '/ca/star'", "got string, want boolean"]),
    ({"ca": {"ari": 0}}, ["at '/ca/ari'", "got number, want boolean"]),
    ({"ca": {"replicas": 0}}, ["at '/ca/replicas'", "minimum: got 0, want 1"]),
    ({"ca": {"database": {"url": "postgresql://u:p@h/d"}}},
     ["additional properties 'url' not allowed"]),
], ids=lambda v: None if isinstance(v, list) else next(iter(v)))
def test_schema_rejects_bad_values(helm: Helm, values: dict[str, Any], expected: list[str]) -> None:
    proc = helm.template(values=values, check=False)
    assert proc.returncode != 0
    assert "values don't meet the specifications of the schema" in proc.stderr
    for text in expected:
        assert text in proc.stderr, proc.stderr


@pytest.mark.parametrize(("values", "expected"), [
    ({"ca": {"enabled": True, "minLifetime": 100, "maxDuration": 10}},
     "ca.maxDuration (10) must be at least ca.minLifetime (100)"),
    ({"metrics": {"enabled": False, "serviceMonitor": {"enabled": True}}},
     "metrics.serviceMonitor.enabled needs metrics.enabled: true"),
    ({"metrics": {"port": 8080}}, "metrics.port and operator.healthPort must differ (both 8080)"),
    ({"serviceAccount": {"create": False}},
     "serviceAccount.name is required when serviceAccount.create is false"),
    ({"ca": {"enabled": True, "profiles": {"short": "6", "classic": "90d"},
             "defaultProfile": "long"}},
     "ca.defaultProfile (long) must be one of ca.profiles (classic, short)"),
    ({"ca": {"enabled": True, "defaultProfile": "long"}},
     "ca.defaultProfile (long) must be one of ca.profiles (none set)"),
    ({"ca": {"enabled": True, "replicas": 2}},
     "ca.replicas (2) above 1 needs ca.database.urlSecretRef: SQLite has one writer"),
], ids=["ca-durations", "servicemonitor-without-metrics", "port-clash", "sa-name",
        "ca-default-profile", "ca-default-profile-without-profiles", "ca-replicas-on-sqlite"])
def test_templates_reject_inconsistent_values(helm: Helm, values: dict[str, Any],
                                              expected: str) -> None:
    proc = helm.template(values=values, check=False)
    assert proc.returncode != 0
    assert expected in proc.stderr, proc.stderr

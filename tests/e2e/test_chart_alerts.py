"""The chart's optional PrometheusRule and Grafana dashboard, rendered with the real helm binary.

The rule groups are checked by promtool (Debian's `prometheus` package, installed by
scripts/setup.sh): `promtool check rules` on what the chart renders, and `promtool test rules`
on synthetic series for when each alert must fire and must not. The monitoring.coreos.com CRDs
are not in the test cluster, so nothing is installed. That every metric named here is served by
a running operator is checked in tests/integration/operator/test_operator_alert_metrics.py
(`referenced_metrics` below is shared with it).
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.helm_helpers import CHART, Helm, find, one

FULL = "rel-star-operator"
DASHBOARD = CHART / "dashboards" / "star-operator.json"
ENABLED = {"prometheusRule": {"enabled": True}}
ALERTS = {"StarCertificateExpiresBeforeNextFetch", "StarSeriesExpiresBeforeNextRenewal",
          "StarCertificateNotReady", "StarCertificateRenewalFailing", "StarSeriesRenewalOverdue",
          "StarCAUnreachable", "StarOrderNotValid"}
METRIC = re.compile(r"\bstar_operator_[A-Za-z0-9_]*[A-Za-z0-9]")


# -- shared with the integration test --------------------------------------------------------

def render_rule_groups(helm: Helm, values: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """spec.groups of the PrometheusRule the chart renders with the rule enabled."""
    rule = one(helm.render({"prometheusRule": {"enabled": True, **(values or {})}}),
               "PrometheusRule", FULL)
    return list(rule["spec"]["groups"])


def dashboard_expressions(dashboard: Mapping[str, Any]) -> list[str]:
    """Every PromQL expression of the dashboard: panel targets and variable queries."""
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", ())]
    for var in dashboard["templating"]["list"]:
        query = var.get("query")
        if var.get("type") == "query":
            exprs.append(query["query"] if isinstance(query, dict) else query)
    return exprs


def rule_expressions(groups: Iterable[Mapping[str, Any]]) -> list[str]:
    return [r["expr"] for g in groups for r in g["rules"]]


def referenced_metrics(exprs: Iterable[str]) -> set[str]:
    """The star_operator_* sample names the expressions select (as written: a histogram's
    `_bucket` / `_count`, a counter's `_total`), without the label matchers' contents."""
    return {m for e in exprs for m in METRIC.findall(re.sub(r'"[^"]*"', '""', e))}


def histogram_family(name: str) -> str:
    return re.sub(r"_(bucket|count|sum)$", "", name)


# -- fixtures --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def groups(helm: Helm) -> list[dict[str, Any]]:
    return render_rule_groups(helm)


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool not found: it comes with Debian's `prometheus` package, which "
                    "scripts/setup.sh installs (apt-get install --no-install-recommends "
                    "prometheus)", pytrace=False)
    return path


@pytest.fixture
def rules_file(groups: list[dict[str, Any]], tmp_path: Path) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    return path


def run_promtool(promtool: str, *args: str) -> str:
    proc = subprocess.run([promtool, *args], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"promtool {' '.join(args)}:\n{proc.stdout}{proc.stderr}"
    return proc.stdout + proc.stderr


# -- rendering -------------------------------------------------------------------------------

def test_disabled_by_default(helm: Helm) -> None:
    objs = helm.render()
    assert not find(objs, "PrometheusRule")
    assert not [o for o in find(objs, "ConfigMap") if "star-operator.json" in o.get("data", {})]
    out = helm.template("--show-only", "templates/prometheusrule.yaml", check=False)
    assert out.returncode != 0 and "could not find template" in out.stderr


def test_rule_object_labels_namespace_and_rule_labels(helm: Helm) -> None:
    values = {"enabled": True, "namespace": "monitoring",
              "labels": {"release": "kube-prometheus-stack"}, "ruleLabels": {"team": "cdn"}}
    rule = one(helm.render({"prometheusRule": values}), "PrometheusRule", FULL)
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["metadata"]["namespace"] == "monitoring"
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert rule["metadata"]["labels"]["app.kubernetes.io/instance"] == "rel"
    rules = [r for g in rule["spec"]["groups"] for r in g["rules"]]
    assert {r["alert"] for r in rules} == ALERTS
    assert all(r["labels"]["team"] == "cdn" for r in rules)
    default = one(helm.render(ENABLED), "PrometheusRule", FULL)
    assert default["metadata"]["namespace"] == "star-system"


def test_every_alert_has_severity_and_names_the_object(groups: list[dict[str, Any]]) -> None:
    for rule in (r for g in groups for r in g["rules"]):
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        assert "{{ $labels.namespace }}/{{ $labels.name }}" in rule["annotations"]["summary"]
        assert "{{ $labels.namespace }}/{{ $labels.name }}" in rule["annotations"]["description"]
        assert re.fullmatch(r"[0-9]+[smh]", rule["for"]), rule["alert"]


def test_durations_come_from_values(helm: Helm) -> None:
    groups = render_rule_groups(helm, {"notReadyFor": "42m", "caUnreachableFor": "7m",
                                       "seriesOverdueSeconds": 1234})
    rules = {r["alert"]: r for g in groups for r in g["rules"]}
    assert rules["StarOrderNotValid"]["for"] == "42m"
    assert "42m" in rules["StarCertificateNotReady"]["annotations"]["summary"]
    assert rules["StarCAUnreachable"]["for"] == "7m"
    assert "> 1234" in rules["StarSeriesRenewalOverdue"]["expr"]


def test_schema_refuses_a_bad_duration_and_a_severity_override(helm: Helm) -> None:
    for bad in ({"notReadyFor": "15 minutes"}, {"ruleLabels": {"severity": "info"}}):
        out = helm.template(values={"prometheusRule": {"enabled": True, **bad}}, check=False)
        assert out.returncode != 0 and "prometheusRule" in out.stderr, out.stderr


def test_helm_lint_strict_with_rule_and_dashboard(helm: Helm) -> None:
    out = helm.run("lint", "--strict", str(CHART), "--set", "prometheusRule.enabled=true",
                   "--set", "grafanaDashboard.enabled=true").stdout
    assert "0 chart(s) failed" in out


# -- promtool --------------------------------------------------------------------------------

def test_promtool_check_rules(promtool: str, rules_file: Path) -> None:
    out = run_promtool(promtool, "check", "rules", str(rules_file))
    assert f"SUCCESS: {len(ALERTS)} rules found" in out, out


def _series(name: str, labels: Mapping[str, str], values: str) -> dict[str, str]:
    inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{name}{{{inner}}}", "values": values}


def _obj(name: str, **extra: str) -> dict[str, str]:
    return {"namespace": "cdn", "name": name, **extra}


P = "star_operator_"
HOUR = "3600x60"  # a constant over the hour of the test (one sample a minute)
UNIT_TESTS: list[dict[str, Any]] = [
    {  # expiry before the next fetch / renewal; a stopped (final) certificate keeps an old
       # next-fetch value, which must not fire
        "input_series": [
            _series(f"{P}certificate_expiration_timestamp_seconds", _obj("late"), HOUR),
            _series(f"{P}certificate_next_fetch_timestamp_seconds", _obj("late"), "4000x60"),
            _series(f"{P}certificate_expiration_timestamp_seconds", _obj("fine"), HOUR),
            _series(f"{P}certificate_next_fetch_timestamp_seconds", _obj("fine"), "1800x60"),
            _series(f"{P}certificate_expiration_timestamp_seconds", _obj("final"), HOUR),
            _series(f"{P}certificate_next_fetch_timestamp_seconds", _obj("final"), "100x60"),
            _series(f"{P}series_next_renewal_timestamp_seconds", _obj("late"), "4000x60"),
            _series(f"{P}series_next_renewal_timestamp_seconds", _obj("fine"), "2400x60"),
        ],
        "alerts": {("StarCertificateExpiresBeforeNextFetch", "5m"): ["late"],
                   ("StarSeriesExpiresBeforeNextRenewal", "5m"): ["late"],
                   ("StarCertificateExpiresBeforeNextFetch", "0m"): []},
    },
    {  # not Ready for 20 minutes; not Ready but canceled; not Ready for 5 minutes only
        "input_series": [
            _series(f"{P}certificate_ready_status", _obj("broken"), "0x60"),
            _series(f"{P}certificate_ready_status", _obj("canceled"), "0x60"),
            _series(f"{P}order_state", _obj("canceled", phase="Canceled"), "1x60"),
            _series(f"{P}certificate_ready_status", _obj("recent"), "1x14 0x45"),
            _series(f"{P}order_state", _obj("stuck", phase="Ordered"), "1x60"),
            _series(f"{P}order_state", _obj("good", phase="Valid"), "1x60"),
            _series(f"{P}order_state", _obj("gone", phase="Canceled"), "1x60"),
        ],
        "alerts": {("StarCertificateNotReady", "20m"): ["broken"],
                   ("StarOrderNotValid", "20m"): ["stuck"],
                   ("StarOrderNotValid", "10m"): []},
    },
    {  # a CA that cannot be reached, a CA answering with a problem, one transient error
        "input_series": [
            _series(f"{P}certificate_fetch_errors_total",
                    _obj("cut", reason="AcmeConnectionError"), "0+1x60"),
            _series(f"{P}certificate_fetch_errors_total",
                    _obj("refused", reason="serverInternal"), "0+1x60"),
            _series(f"{P}certificate_fetch_errors_total",
                    _obj("blip", reason="AcmeConnectionError"), "0x4 1x55"),
        ],
        "alerts": {("StarCertificateRenewalFailing", "40m"): ["cut", "refused"],
                   ("StarCAUnreachable", "40m"): ["cut"]},
    },
    {  # a series whose renewal is 20+ minutes late; one whose final certificate (issued after
       # the last planned moment) is installed; one planned in the future
        "input_series": [
            _series(f"{P}series_next_renewal_timestamp_seconds", _obj("late"), "600x60"),
            _series(f"{P}certificate_not_before_timestamp_seconds", _obj("late"), "300x60"),
            _series(f"{P}series_next_renewal_timestamp_seconds", _obj("final"), "600x60"),
            _series(f"{P}certificate_not_before_timestamp_seconds", _obj("final"), "700x60"),
            _series(f"{P}series_next_renewal_timestamp_seconds", _obj("ahead"), "5000x60"),
            _series(f"{P}certificate_not_before_timestamp_seconds", _obj("ahead"), "0x60"),
        ],
        "alerts": {("StarSeriesRenewalOverdue", "40m"): ["late"]},
    },
]


def test_promtool_unit_tests_fire_when_and_only_when_they_should(
        promtool: str, groups: list[dict[str, Any]], tmp_path: Path) -> None:
    """Annotations are left out of the unit-test copy (promtool compares them verbatim);
    `promtool check rules` above checks their templates."""
    severity = {r["alert"]: r["labels"]["severity"] for g in groups for r in g["rules"]}
    bare = [{**g, "rules": [{k: v for k, v in r.items() if k != "annotations"}
                            for r in g["rules"]]} for g in groups]
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": bare}, sort_keys=False))
    tests = [{"interval": "1m", "input_series": case["input_series"],
              "alert_rule_test": [
                  {"eval_time": at, "alertname": alert,
                   "exp_alerts": [{"exp_labels": {"severity": severity[alert],
                                                  **lbl}}
                                  for lbl in _labels_of(case, names)]}
                  for (alert, at), names in case["alerts"].items()]}
             for case in UNIT_TESTS]
    covered = {alert for case in UNIT_TESTS for alert, _ in case["alerts"]}
    assert covered == ALERTS
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(
        {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": tests},
        sort_keys=False))
    out = run_promtool(promtool, "test", "rules", str(tmp_path / "tests.yaml"))
    assert "SUCCESS" in out, out


def _labels_of(case: Mapping[str, Any], names: list[str]) -> list[dict[str, str]]:
    """The labels an alert on these objects carries: namespace, name, and (for order_state)
    the phase of the object's series."""
    out = []
    for name in names:
        labels = _obj(name)
        for s in case["input_series"]:
            if f'name="{name}"' in s["series"] and 'phase="' in s["series"]:
                labels["phase"] = re.search(r'phase="([^"]+)"', s["series"]).group(1)
        out.append(labels)
    return out


# -- dashboard -------------------------------------------------------------------------------

def test_dashboard_json_covers_the_asked_panels() -> None:
    dash = json.loads(DASHBOARD.read_text())
    assert dash["uid"] == "star-operator"
    exprs = dashboard_expressions(dash)
    joined = "\n".join(exprs)
    for needle in ("star_operator_certificate_expiration_timestamp_seconds{",  # time left
                   "rate(star_operator_certificate_rotations_total",  # renewals / minute
                   "rate(star_operator_series_renewals_total",
                   "star_operator_series_renewal_lag_seconds_bucket",  # lag quantiles
                   "sum by (reason) (rate(star_operator_certificate_fetch_errors_total",
                   "sum by (le, action) (rate(star_operator_acme_request_duration_seconds_bucket",
                   "sum by (phase) (star_operator_order_state"):
        assert needle in joined, needle
    assert joined.count("histogram_quantile(") >= 5
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    assert all(p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
               for p in dash["panels"])


def test_dashboard_configmap(helm: Helm) -> None:
    values = {"grafanaDashboard": {"enabled": True, "namespace": "grafana",
                                   "annotations": {"grafana_folder": "Certificates"}}}
    cm = one(helm.render(values), "ConfigMap", f"{FULL}-dashboard")
    assert cm["metadata"]["namespace"] == "grafana"
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert cm["metadata"]["annotations"] == {"grafana_folder": "Certificates"}
    assert json.loads(cm["data"]["star-operator.json"]) == json.loads(DASHBOARD.read_text())


def test_named_metrics_are_defined_by_the_operator(groups: list[dict[str, Any]]) -> None:
    """A static check (the served names are checked against a real scrape in the
    integration test): each name is one the operator's registry can produce."""
    from star_operator import metrics
    produced: set[str] = set()
    histograms: set[str] = set()
    # the registry's families, not the module's metric objects: the per-object series are one
    # collector that renders several families at scrape time
    for family in metrics.registry.collect():
        produced.add(family.name)
        produced.add(f"{family.name}_total")
        if family.type == "histogram":
            histograms.add(family.name)
            produced.update(f"{family.name}_{s}" for s in ("bucket", "count", "sum"))
    names = referenced_metrics(rule_expressions(groups)
                               + dashboard_expressions(json.loads(DASHBOARD.read_text())))
    assert names and names <= produced, sorted(names - produced)
    assert all(histogram_family(n) in histograms for n in names if n != histogram_family(n))

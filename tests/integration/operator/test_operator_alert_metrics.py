"""Every metric the chart's PrometheusRule and Grafana dashboard name is served by a running
operator: a scrape after a native STAR order was issued and renewed, its CA went away for a
moment (the fetch error the CA-unreachable alert matches), and an emulated series (star-ca
playing a public CA: STAR off, a 10-second profile) renewed once. Labelled series only appear
once something set them, so each is made to happen here rather than assumed from another module.
"""
from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from op_env import StarEnv, installed, scrape, wait_condition
from op_env import public_ca as public_ca_process

from star_devenv.ca import LocalCA
from star_devenv.helm import Helm
from star_devenv.kubectl import Kubectl
from tests.e2e.test_chart_alerts import (DASHBOARD, dashboard_expressions, referenced_metrics,
                                         render_rule_groups, rule_expressions)
from tests.waiting import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.dns]

SHORT = 10  # seconds: the public CA's "short" profile


@pytest.fixture(scope="module")
def public_ca(dns_server: Any) -> Iterator[LocalCA]:
    with public_ca_process(dns_server, {"short": SHORT}) as ca:
        yield ca


@pytest.fixture(scope="module")
def public_env(kubectl: Kubectl, crds: None, dns_server: Any, public_ca: LocalCA
               ) -> Iterator[StarEnv]:
    with installed(StarEnv(kubectl, dns_server, public_ca, suffix=f"a{uuid.uuid4().hex[:5]}",
                           profile="short")) as env:
        yield env


@pytest.fixture(scope="module")
def named() -> set[str]:
    """The star_operator_* names in the chart's rules (rendered by helm) and dashboard."""
    helm = Helm()
    try:
        groups = render_rule_groups(helm)
    finally:
        helm.close()
    exprs = rule_expressions(groups) + dashboard_expressions(json.loads(DASHBOARD.read_text()))
    names = referenced_metrics(exprs)
    assert any(n.startswith("star_operator_series_") for n in names)
    return names


def _samples(metrics: dict[tuple[str, frozenset], float], metric: str, /, **labels: str
             ) -> dict[frozenset, float]:
    """The samples of one name whose labels include ``labels``."""
    want = set(labels.items())
    return {lbl: v for (n, lbl), v in metrics.items() if n == metric and want <= lbl}


# Listed before operator_process so that the operator stops first (after the namespaces'
# finalizers ran against both CAs), as in the other modules.
def test_every_metric_named_by_the_rules_and_dashboard_is_served(
        kubectl: Kubectl, star_env: StarEnv, star_ca: LocalCA, public_env: StarEnv,
        named: set[str], operator_process, namespace: str) -> None:
    url = operator_process.metrics_url
    # native STAR: issued, then a rotation
    kubectl.apply(star_env.star_order("native", namespace, [f"native-{namespace}.star.test"],
                                      lifetime="3s"))
    # emulated series: issued, then one renewal
    kubectl.apply(public_env.star_order("series", namespace, [f"series-{namespace}.star.test"],
                                        lifetime=f"{SHORT}s", duration="1h"))
    for name in ("native", "series"):
        wait_condition(kubectl, "starorder", name, namespace, status="True", reason="Issued",
                       timeout=120)
    obj = {"namespace": namespace}
    wait_for(lambda: _samples(scrape(url), "star_operator_certificate_rotations_total",
                              name="native", **obj), 30, "a rotation of the native order")
    wait_for(lambda: any(v >= 1 for v in _samples(
        scrape(url), "star_operator_series_renewals_total", name="series", **obj).values()),
        60, "a renewal of the emulated series")

    # the CA away: the fetch error reason StarCAUnreachable matches
    star_ca.kill()
    try:
        errors = wait_for(lambda: _samples(scrape(url),
                                           "star_operator_certificate_fetch_errors_total",
                                           name="native", **obj), 30, "a fetch error")
    finally:
        star_ca.start()
    reasons = {dict(lbl)["reason"] for lbl in errors}
    assert reasons & {"AcmeConnectionError", "AcmeTlsError"}, reasons

    metrics = scrape(url)
    served = {n for n, _ in metrics}
    assert named <= served, f"named by the chart but not served: {sorted(named - served)}"
    # the labels the rules join and template on are on every per-object series
    for name in named:
        for labels in (lbl for n, lbl in metrics if n == name):
            keys = dict(labels)
            if "action" in keys or "le" in keys or not keys:
                continue  # the histograms (per action, or not per object)
            assert {"namespace", "name"} <= keys.keys(), (name, keys)
    phases = {dict(lbl).get("phase") for lbl in _samples(
        metrics, "star_operator_order_state", **obj)}
    assert "Valid" in phases
    lag = _samples(metrics, "star_operator_series_renewal_lag_seconds_count")
    assert sum(lag.values()) >= 1
    series_next = _samples(metrics, "star_operator_series_next_renewal_timestamp_seconds",
                           name="series", **obj)
    not_before = _samples(metrics, "star_operator_certificate_not_before_timestamp_seconds",
                          name="series", **obj)
    # StarSeriesRenewalOverdue's guard: a planned renewal lies after the current notBefore
    assert max(series_next.values()) > max(not_before.values())

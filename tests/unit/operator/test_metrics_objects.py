"""The per-object series, rendered from plain numbers at scrape time (metrics.PerObjectSeries):
the names and labels dashboards use, nothing for a value not set, one phase per StarOrder."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from star_operator.metrics import PerObjectSeries

CERT = {"namespace": "ns", "name": "web"}


def _world() -> tuple[PerObjectSeries, CollectorRegistry]:
    series, registry = PerObjectSeries(), CollectorRegistry()
    registry.register(series)
    return series, registry


def test_a_certificate_s_series_under_the_cert_manager_compatible_names() -> None:
    series, registry = _world()
    cert = series.certificate("ns", "web")
    cert.not_after, cert.not_before, cert.next_fetch, cert.ready = 200.0, 100.0, 150.0, 1
    value = registry.get_sample_value
    assert value("star_operator_certificate_not_after_timestamp_seconds", CERT) == 200.0
    assert value("star_operator_certificate_expiration_timestamp_seconds", CERT) == 200.0
    assert value("star_operator_certificate_not_before_timestamp_seconds", CERT) == 100.0
    assert value("star_operator_certificate_next_fetch_timestamp_seconds", CERT) == 150.0
    assert value("star_operator_certificate_ready_status", CERT) == 1
    assert series.certificate("ns", "web") is cert  # one per object


def test_unset_values_and_forgotten_objects_export_nothing() -> None:
    series, registry = _world()
    series.certificate("ns", "web").ready = 0
    text = generate_latest(registry).decode()
    assert 'star_operator_certificate_ready_status{name="web",namespace="ns"} 0.0' in text
    assert "not_after_timestamp_seconds{" not in text and "rotations_total{" not in text
    series.certificates.pop(("ns", "web"))
    assert registry.get_sample_value("star_operator_certificate_ready_status", CERT) is None


def test_rotations_are_a_counter_and_a_star_order_has_one_phase() -> None:
    series, registry = _world()
    series.certificate("ns", "web").rotations = 3
    assert registry.get_sample_value("star_operator_certificate_rotations_total", CERT) == 3
    series.order_phases[("ns", "web")] = "Ordered"
    series.order_phases[("ns", "web")] = "Valid"
    assert registry.get_sample_value("star_operator_order_state", CERT | {"phase": "Valid"}) == 1
    assert registry.get_sample_value("star_operator_order_state",
                                     CERT | {"phase": "Ordered"}) is None

"""Prometheus metrics, named after cert-manager's where the meaning is the same.

Dashboards and alerts written for ``certmanager_certificate_expiration_timestamp_seconds`` port
over by changing the prefix; STAR-specific series (next fetch, rotations, order states) are added.
Per-object series are removed when the object goes away so 1,000 churned orders do not leak.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import start_http_server as _start_http_server

NS = "star_operator"
CERT_LABELS = ("namespace", "name")

registry: CollectorRegistry = REGISTRY

not_after = Gauge(f"{NS}_certificate_not_after_timestamp_seconds",
                  "notAfter of the certificate currently in the Secret", CERT_LABELS)
not_before = Gauge(f"{NS}_certificate_not_before_timestamp_seconds",
                   "notBefore of the certificate currently in the Secret", CERT_LABELS)
expiration = Gauge(f"{NS}_certificate_expiration_timestamp_seconds",
                   "When the served certificate expires (same as notAfter; cert-manager name)",
                   CERT_LABELS)
next_fetch = Gauge(f"{NS}_certificate_next_fetch_timestamp_seconds",
                   "When the operator will next fetch from the star-certificate URL", CERT_LABELS)
ready = Gauge(f"{NS}_certificate_ready_status", "1 if the StarCertificate is Ready", CERT_LABELS)
rotations = Counter(f"{NS}_certificate_rotations_total",
                    "Certificates written into Secrets", CERT_LABELS)
fetch_errors = Counter(f"{NS}_certificate_fetch_errors_total",
                       "Failed fetches or verifications", (*CERT_LABELS, "reason"))
order_state = Gauge(f"{NS}_order_state",
                    "1 for the current phase of each StarOrder", (*CERT_LABELS, "phase"))
series_renewals = Counter(f"{NS}_series_renewals_total",
                          "Certificates of emulated STAR series installed after the first",
                          CERT_LABELS)
series_next_renewal = Gauge(f"{NS}_series_next_renewal_timestamp_seconds",
                            "When an emulated series orders its next certificate", CERT_LABELS)
series_renewal_lag = Histogram(f"{NS}_series_renewal_lag_seconds",
                               "From the planned renewal moment to the new certificate in the "
                               "Secret (emulated series)",
                               buckets=(.5, 1, 2, 5, 10, 30, 60, 300, 1800, 3600))
acme_latency = Histogram(f"{NS}_acme_request_duration_seconds",
                         "Latency of ACME operations issued by the operator", ("action",),
                         buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30))


@contextlib.contextmanager
def time_acme(action: str) -> Iterator[None]:
    """Observe the duration of an ACME call (including failures)."""
    start = time.monotonic()
    try:
        yield
    finally:
        acme_latency.labels(action).observe(time.monotonic() - start)


def set_order_phase(namespace: str, name: str, phase: str, previous: str | None) -> None:
    """Move an order's one-hot phase series."""
    if previous and previous != phase:
        _remove(order_state, namespace, name, previous)
    order_state.labels(namespace, name, phase).set(1)


def forget_order(namespace: str, name: str, phase: str | None) -> None:
    """Drop a deleted order's series (an emulated series exports per-order gauges too)."""
    if phase:
        _remove(order_state, namespace, name, phase)
    forget_certificate(namespace, name)
    for metric in (series_renewals, series_next_renewal):
        _remove(metric, namespace, name)


def forget_certificate(namespace: str, name: str) -> None:
    """Drop a deleted StarCertificate's series."""
    for gauge in (not_after, not_before, expiration, next_fetch, ready, rotations):
        _remove(gauge, namespace, name)


def _remove(metric: Gauge | Counter, *labels: str) -> None:
    with contextlib.suppress(KeyError):
        metric.remove(*labels)


def start_http_server(port: int, addr: str = "0.0.0.0") -> None:
    """Serve ``/metrics`` (a daemon thread owned by prometheus-client)."""
    _start_http_server(port, addr=addr, registry=registry)

"""Prometheus metrics, named after cert-manager's where the meaning is the same.

Dashboards and alerts written for ``certmanager_certificate_expiration_timestamp_seconds`` port
over by changing the prefix; STAR-specific series (next fetch, rotations, order states) are added.
Per-object series are removed when the object goes away so 1,000 churned orders do not leak.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Iterator

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import start_http_server as _start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

NS = "star_operator"
CERT_LABELS = ("namespace", "name")

registry: CollectorRegistry = REGISTRY

fetch_errors = Counter(f"{NS}_certificate_fetch_errors_total",
                       "Failed fetches or verifications", (*CERT_LABELS, "reason"))
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


@dataclasses.dataclass(slots=True)
class CertificateSeries:
    """The per-object series of one certificate (a StarCertificate's, or the StarOrder's of an
    emulated series) as plain numbers; None: not exported (yet)."""

    not_after: float | None = None
    not_before: float | None = None
    next_fetch: float | None = None
    ready: float | None = None
    rotations: float | None = None


#: (attribute of :class:`CertificateSeries`, metric name, help), gauges; ``not_after`` is
#: also exported under cert-manager's name for it.
_CERTIFICATE_GAUGES = (
    ("not_after", f"{NS}_certificate_not_after_timestamp_seconds",
     "notAfter of the certificate currently in the Secret"),
    ("not_before", f"{NS}_certificate_not_before_timestamp_seconds",
     "notBefore of the certificate currently in the Secret"),
    ("not_after", f"{NS}_certificate_expiration_timestamp_seconds",
     "When the served certificate expires (same as notAfter; cert-manager name)"),
    ("next_fetch", f"{NS}_certificate_next_fetch_timestamp_seconds",
     "When the operator will next fetch from the star-certificate URL"),
    ("ready", f"{NS}_certificate_ready_status", "1 if the StarCertificate is Ready"),
)


class PerObjectSeries(Collector):
    """The series of every StarCertificate and StarOrder, kept as plain numbers and rendered
    when Prometheus scrapes.

    Why not prometheus-client's labelled Gauges: each label set is a child object with its own
    lock, about 0.8 KB, and a StarCertificate had six (seven with its StarOrder's phase): some
    50 MB of the operator at 10,000 orders, for numbers the loops hold anyway.
    """

    def __init__(self) -> None:
        self.certificates: dict[tuple[str, str], CertificateSeries] = {}
        self.order_phases: dict[tuple[str, str], str] = {}

    def certificate(self, namespace: str, name: str) -> CertificateSeries:
        """The series of one certificate, created empty on first use."""
        key = (namespace, name)
        series = self.certificates.get(key)
        if series is None:
            series = self.certificates[key] = CertificateSeries()
        return series

    def collect(self) -> Iterator[Metric]:
        # scraped on prometheus-client's thread while the event loop writes: a dict's copy is
        # one step under the GIL, where iterating it could meet a resize
        certificates, phases = self.certificates.copy(), self.order_phases.copy()
        for attr, name, documentation in _CERTIFICATE_GAUGES:
            gauge = GaugeMetricFamily(name, documentation, labels=CERT_LABELS)
            for labels, series in certificates.items():
                value = getattr(series, attr)
                if value is not None:
                    gauge.add_metric(labels, value)
            yield gauge
        counter = CounterMetricFamily(f"{NS}_certificate_rotations_total",
                                      "Certificates written into Secrets", labels=CERT_LABELS)
        for labels, series in certificates.items():
            if series.rotations is not None:
                counter.add_metric(labels, series.rotations)
        yield counter
        state = GaugeMetricFamily(f"{NS}_order_state", "1 for the current phase of each StarOrder",
                                  labels=(*CERT_LABELS, "phase"))
        for (namespace, name), phase in phases.items():
            state.add_metric((namespace, name, phase), 1)
        yield state


objects = PerObjectSeries()
registry.register(objects)


def set_order_phase(namespace: str, name: str, phase: str) -> None:
    """An order's phase: its one ``order_state`` series."""
    objects.order_phases[(namespace, name)] = phase


def count_rotation(namespace: str, name: str) -> None:
    """A new certificate written into a StarCertificate's Secret."""
    series = objects.certificate(namespace, name)
    series.rotations = (series.rotations or 0) + 1


def forget_order(namespace: str, name: str) -> None:
    """Drop a deleted order's series (an emulated series exports per-order gauges too)."""
    objects.order_phases.pop((namespace, name), None)
    forget_certificate(namespace, name)
    for metric in (series_renewals, series_next_renewal):
        with contextlib.suppress(KeyError):
            metric.remove(namespace, name)


def forget_certificate(namespace: str, name: str) -> None:
    """Drop a deleted StarCertificate's series."""
    objects.certificates.pop((namespace, name), None)


def start_http_server(port: int, addr: str = "0.0.0.0") -> None:
    """Serve ``/metrics`` (a daemon thread owned by prometheus-client)."""
    _start_http_server(port, addr=addr, registry=registry)

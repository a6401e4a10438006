"""Operator configuration from the environment (prefix ``STAR_OPERATOR_``).

One frozen object, loaded and validated once at startup, so a typo in a Deployment's env fails
the pod immediately instead of surfacing as odd timing hours later.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

PREFIX = "STAR_OPERATOR_"


class ConfigurationError(ValueError):
    """An environment variable has a value the operator cannot use."""


@dataclasses.dataclass(frozen=True)
class Config:
    """Tunables; every field maps to ``STAR_OPERATOR_<FIELD_NAME_UPPER>``."""

    #: Namespace for Secrets referenced by cluster-scoped CsrTemplates without a namespace.
    namespace: str = "star-operator"
    #: Metrics port (0 disables the endpoint).
    metrics_port: int = 9090
    metrics_address: str = "0.0.0.0"
    #: Upper bound of the random delay added to every scheduled fetch (seconds), and the share of
    #: a certificate's lifetime it may take: spreads many StarCertificates published together.
    fetch_jitter_max: float = 1.0
    fetch_jitter_fraction: float = 0.02
    #: Poll bounds when the CA has not yet published the next certificate.
    poll_min: float = 0.5
    poll_max: float = 300.0
    #: Error backoff bounds (seconds); the effective backoff also scales with the lifetime.
    backoff_min: float = 1.0
    backoff_max: float = 600.0
    #: Backoff cap for retrying cancellation at the CA while a StarOrder is being deleted.
    delete_backoff_max: float = 60.0
    #: How long one ACME issuance (authorizations + finalize) may take before it is retried.
    issuance_timeout: float = 300.0
    #: Clock skew tolerated when checking a certificate's validity window (seconds).
    clock_skew: float = 5.0
    #: Emulated STAR series without ARI: the next certificate is ordered at this share of the
    #: current one's lifetime, spread uniformly over ``series_spread`` of a lifetime around it.
    series_fraction: float = 2 / 3
    series_spread: float = 0.1
    #: Bounds for re-asking a CA's ARI window (its Retry-After is clamped into them; seconds).
    ari_recheck_min: float = 60.0
    ari_recheck_max: float = 86400.0
    #: StarOrder reconciliations (issuance steps, resume) running at once; the rest queue.
    max_concurrent_issuances: int = 50

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        """Build from ``env`` (default ``os.environ``), converting to each field's type."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            raw = env.get(PREFIX + field.name.upper())
            if raw is None:
                continue
            kind: type = type(field.default)  # every field has a plain (str, int, float) default
            try:
                values[field.name] = kind(raw)
            except ValueError as exc:
                raise ConfigurationError(
                    f"{PREFIX}{field.name.upper()}={raw!r}: expected {kind.__name__}") from exc
        config = cls(**values)
        config.validate()
        return config

    def validate(self) -> None:
        """Reject values that would make scheduling nonsensical."""
        for name in ("fetch_jitter_max", "poll_min", "backoff_min", "delete_backoff_max",
                     "issuance_timeout", "clock_skew", "fetch_jitter_fraction"):
            if getattr(self, name) < 0:
                raise ConfigurationError(f"{PREFIX}{name.upper()} must not be negative")
        if self.poll_min > self.poll_max:
            raise ConfigurationError(f"{PREFIX}POLL_MIN must not exceed {PREFIX}POLL_MAX")
        if self.backoff_min > self.backoff_max:
            raise ConfigurationError(f"{PREFIX}BACKOFF_MIN must not exceed {PREFIX}BACKOFF_MAX")
        if not 0 < self.series_fraction < 1 or not 0 <= self.series_spread < 2 * min(
                self.series_fraction, 1 - self.series_fraction):
            raise ConfigurationError(f"{PREFIX}SERIES_FRACTION must lie in (0, 1) with "
                                     f"{PREFIX}SERIES_SPREAD keeping the moment inside the "
                                     "lifetime")
        if self.max_concurrent_issuances < 1:
            raise ConfigurationError(f"{PREFIX}MAX_CONCURRENT_ISSUANCES must be at least 1")
        if not 0 <= self.metrics_port <= 65535:
            raise ConfigurationError(f"{PREFIX}METRICS_PORT out of range")


_current: Config | None = None


def get() -> Config:
    """The process-wide configuration, loaded from the environment on first use."""
    global _current
    if _current is None:
        _current = Config.from_env()
    return _current


def set_current(config: Config) -> None:
    """Install a configuration (startup, after CLI flags; tests)."""
    global _current
    _current = config

"""Environment configuration and small parsing helpers."""
from __future__ import annotations

import datetime

import pytest

from star_operator import timeutil
from star_operator.config import Config, ConfigurationError
from star_operator.renewal.fetcher import candidate_keys
from star_operator.secrets.payload import b64


def test_from_env_converts_types() -> None:
    cfg = Config.from_env({"STAR_OPERATOR_METRICS_PORT": "0", "STAR_OPERATOR_POLL_MIN": "0.2",
                           "STAR_OPERATOR_NAMESPACE": "ops", "UNRELATED": "x"})
    assert (cfg.metrics_port, cfg.poll_min, cfg.namespace) == (0, 0.2, "ops")


@pytest.mark.parametrize("env", [{"STAR_OPERATOR_METRICS_PORT": "nine"},
                                 {"STAR_OPERATOR_POLL_MIN": "10", "STAR_OPERATOR_POLL_MAX": "1"},
                                 {"STAR_OPERATOR_BACKOFF_MIN": "-1"},
                                 {"STAR_OPERATOR_METRICS_PORT": "70000"},
                                 {"STAR_OPERATOR_MAX_CONCURRENT_ISSUANCES": "0"}])
def test_bad_env_fails_fast(env: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError):
        Config.from_env(env)


@pytest.mark.parametrize("text,seconds", [("30s", 30), ("5m", 300), ("1h30m", 5400),
                                          ("4d", 345600), ("1w", 604800)])
def test_parse_duration(text: str, seconds: int) -> None:
    assert timeutil.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "10", "1.5h", "h", "10 s", "-1s"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        timeutil.parse_duration(text)


def test_time_round_trip() -> None:
    t = datetime.datetime(2030, 1, 2, 3, 4, 5, 999, tzinfo=datetime.timezone.utc)
    assert timeutil.format_time(t) == "2030-01-02T03:04:05Z"
    assert timeutil.parse_time("2030-01-02T03:04:05Z") == t.replace(microsecond=0)
    assert timeutil.parse_time(None) is None and timeutil.format_time(None) is None


def test_candidate_keys_staged_first_without_duplicates() -> None:
    secret = {"data": {"staged-tls.key": b64(b"NEW"), "tls.key": b64(b"OLD")}}
    assert candidate_keys(secret, "tls.key") == [b"NEW", b"OLD"]
    assert candidate_keys({"data": {"tls.key": b64(b"K"), "staged-tls.key": b64(b"K")}},
                          "tls.key") == [b"K"]
    assert candidate_keys(None, "tls.key") == []

"""`star-ca serve` flags and STAR_CA_* environment variables."""
from __future__ import annotations

from pathlib import Path

import pytest

from star_ca.config import config_from_args, parse_hostport
from star_ca.wfe.nonces import NonceStore


def test_env_defaults_and_flag_override() -> None:
    env = {"STAR_CA_LISTEN": "0.0.0.0:15000", "STAR_CA_DATA_DIR": "/tmp/x",
           "STAR_CA_DNS_SERVER": "127.0.0.1:5353", "STAR_CA_CAA_IDENTITIES": "a.test, b.test",
           "STAR_CA_MIN_LIFETIME": "5", "STAR_CA_HTTP01_PORT": "5002"}
    cfg = config_from_args(["serve"], env)
    assert (cfg.listen_host, cfg.listen_port) == ("0.0.0.0", 15000)
    assert cfg.data_dir == Path("/tmp/x") and cfg.dns_server == ("127.0.0.1", 5353)
    assert cfg.caa_identities == ("a.test", "b.test") and cfg.min_lifetime == 5
    assert cfg.http01_port == 5002
    cfg = config_from_args(["serve", "--min-lifetime", "7", "--caa-identity", "c.test",
                            "--dns-server", "10.0.0.1"], env)
    assert cfg.min_lifetime == 7 and cfg.caa_identities == ("c.test",)
    assert cfg.dns_server == ("10.0.0.1", 53)


def test_bad_values_exit() -> None:
    with pytest.raises(SystemExit):
        config_from_args(["serve", "--min-lifetime", "0"], {})
    with pytest.raises(SystemExit):
        config_from_args(["serve", "--listen", "nope"], {})


def test_parse_hostport() -> None:
    assert parse_hostport("[::1]:53") == ("::1", 53)
    assert parse_hostport("h", 53) == ("h", 53)


def test_nonces_single_use_and_bounded() -> None:
    store = NonceStore(capacity=3)
    nonces = [store.new() for _ in range(4)]
    assert not store.consume(nonces[0])  # evicted
    assert store.consume(nonces[3]) and not store.consume(nonces[3])

"""`star-ca serve` flags and STAR_CA_* environment variables."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from star_ca.config import OPTIONS, Config, config_from_args, parse_hostport
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


def test_unset_means_the_dataclass_default() -> None:
    assert config_from_args(["serve"], {}) == Config()
    empty = {o.env: "" for o in OPTIONS}
    assert config_from_args(["serve"], empty) == Config()
    assert {o.field for o in OPTIONS} - {"listen"} <= {f.name for f in dataclasses.fields(Config)}


@pytest.mark.parametrize("env, named", [
    ({"STAR_CA_HTTP01_PORT": "eighty"}, "STAR_CA_HTTP01_PORT 'eighty': not an integer"),
    ({"STAR_CA_HTTP01_PORT": "70000"}, "STAR_CA_HTTP01_PORT '70000': must be 1..65535"),
    ({"STAR_CA_MIN_LIFETIME": "0"}, "STAR_CA_MIN_LIFETIME '0': must be >= 1"),
    ({"STAR_CA_CAA_CACHE_MAX": "-1"}, "STAR_CA_CAA_CACHE_MAX '-1': must be >= 0"),
    ({"STAR_CA_KEY_TYPE": "dsa"}, "STAR_CA_KEY_TYPE 'dsa': want one of"),
    ({"STAR_CA_NO_STAR": "maybe"}, "STAR_CA_NO_STAR 'maybe': want true or false"),
    ({"STAR_CA_BASE_URL": "ca.test"}, "STAR_CA_BASE_URL 'ca.test': want https://"),
    ({"STAR_CA_LISTEN": "nowhere"}, "STAR_CA_LISTEN 'nowhere': missing port"),
    ({"STAR_CA_CAA_IDENTITIES": " , "}, "STAR_CA_CAA_IDENTITIES"),
    ({"STAR_CA_PROFILES": "short"}, "STAR_CA_PROFILES: bad profile"),
    ({"STAR_CA_MIN_LIFETIME": "10", "STAR_CA_MAX_DURATION": "5"}, "must be >= min-lifetime"),
])
def test_bad_environment_is_a_usage_error_naming_it(env: dict[str, str], named: str,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        config_from_args(["serve"], env)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "usage:" in err and named in err and "Traceback" not in err


def test_database_url_is_checked_and_never_echoed(capsys: pytest.CaptureFixture[str]) -> None:
    good = "postgresql://star:s3cret@db.example:5432/ca"
    cfg = config_from_args(["serve"], {"STAR_CA_DATABASE_URL": good})
    assert cfg.database_url == good and "s3cret" not in repr(cfg)
    with pytest.raises(SystemExit):
        config_from_args(["serve", "--database-url", "mysql://star:s3cret@db/ca"], {})
    err = capsys.readouterr().err
    assert "--database-url: want postgresql://" in err and "s3cret" not in err


def test_a_flag_wins_and_is_named_when_bad(capsys: pytest.CaptureFixture[str]) -> None:
    env = {"STAR_CA_HTTP01_PORT": "eighty", "STAR_CA_NO_ARI": "true"}
    cfg = config_from_args(["serve", "--http01-port", "8080"], env)
    assert cfg.http01_port == 8080 and cfg.ari is False
    with pytest.raises(SystemExit):
        config_from_args(["serve", "--http01-port", "x"], {})
    assert "--http01-port 'x': not an integer" in capsys.readouterr().err


def test_parse_hostport() -> None:
    assert parse_hostport("[::1]:53") == ("::1", 53)
    assert parse_hostport("h", 53) == ("h", 53)


async def test_nonces_single_use_and_bounded() -> None:
    store = NonceStore(capacity=3)
    nonces = [store.new() for _ in range(4)]
    assert not await store.consume(nonces[0])  # evicted
    assert await store.consume(nonces[3]) and not await store.consume(nonces[3])

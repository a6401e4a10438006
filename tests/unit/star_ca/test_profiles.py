"""ACME profiles: parsing --profile / STAR_CA_PROFILES, choosing one, meta.profiles."""
from __future__ import annotations

import pytest

from star_ca.config import config_from_args
from star_ca.profiles import ProfileError, Profiles, parse_duration, parse_profiles


def test_durations() -> None:
    assert [parse_duration(t) for t in ("6", "6s", "30m", "160h", "45d")] == \
        [6, 6, 1800, 576000, 45 * 86400]
    for bad in ("0", "-1", "1w", "h", "1.5h", ""):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_flags_env_and_default() -> None:
    cfg = config_from_args(["serve"], {"STAR_CA_PROFILES": "short=6, classic=90d"})
    assert cfg.profiles == Profiles((("short", 6), ("classic", 7776000)), "short")
    cfg = config_from_args(["serve", "--profile", "a=10", "--profile", "b=160h",
                            "--default-profile", "b"], {"STAR_CA_PROFILES": "short=6"})
    assert cfg.profiles.offered == (("a", 10), ("b", 576000)) and cfg.profiles.default == "b"
    cfg = config_from_args(["serve"], {"STAR_CA_PROFILES": "a=1,b=2",
                                       "STAR_CA_DEFAULT_PROFILE": "b"})
    assert cfg.profiles.default == "b"
    assert config_from_args(["serve"], {}).profiles == Profiles((), None)


@pytest.mark.parametrize("argv", [
    ["--profile", "short"], ["--profile", "=6"], ["--profile", "a=0"],
    ["--profile", "a=1", "--profile", "a=2"], ["--profile", "a=1", "--default-profile", "b"],
    ["--default-profile", "b"],
])
def test_bad_profiles_exit(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        config_from_args(["serve", *argv], {})


def test_switches() -> None:
    cfg = config_from_args(["serve"], {})
    assert cfg.star and cfg.ari
    cfg = config_from_args(["serve", "--no-star", "--no-ari"], {})
    assert not cfg.star and not cfg.ari
    cfg = config_from_args(["serve"], {"STAR_CA_NO_STAR": "1", "STAR_CA_NO_ARI": "false"})
    assert not cfg.star and cfg.ari


def test_choose() -> None:
    profiles = parse_profiles(["short=6", "classic=90d"], "classic")
    assert profiles.choose(None) == "classic" and profiles.choose("short") == "short"
    with pytest.raises(ProfileError, match="short, classic"):
        profiles.choose("tlsserver")
    assert Profiles().choose(None) is None
    with pytest.raises(ProfileError, match="none"):
        Profiles().choose("short")


def test_directory_meta_states_validity() -> None:
    meta = parse_profiles(["short=6", "shortlived=160h", "classic=90d"], "classic") \
        .directory_meta()
    assert list(meta) == ["short", "shortlived", "classic"]
    assert "6 seconds (6 s)" in meta["short"] and "160 hours (576000 s)" in meta["shortlived"]
    assert "90 days" in meta["classic"] and "default" in meta["classic"]
    assert "default" not in meta["short"]

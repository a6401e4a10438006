"""Which Debian mirror the image builder debootstraps from: the machine's apt sources (deb822
`.sources` and one-line `sources.list`), an explicit --mirror or $STAR_DEBIAN_MIRROR, and
deb.debian.org only as the last, announced fallback."""
from __future__ import annotations

from pathlib import Path

import pytest

from star_devenv import apt_sources, image
from star_devenv.apt_sources import ENV_VAR, FALLBACK, debian_mirror, mirror_from_apt

# Debian 12's own /etc/apt/sources.list.d/debian.sources, pointed at another mirror.
DEBIAN_SOURCES = """\
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://ftp.example.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://security.example.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""

SOURCES_LIST = (
    "# deb cdrom:[Debian GNU/Linux 12.5.0 _Bookworm_]/ bookworm main\n"
    "deb-src http://src.example.org/debian bookworm main\n"
    "deb [ arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg ] "
    "https://mirror.example.net/debian/ bookworm main contrib  # the local mirror\n"
    "deb http://security.example.net/debian-security bookworm-security main\n")


def etc(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "etc-apt"
    (root / "sources.list.d").mkdir(parents=True)
    for name, text in files.items():
        (root / name).write_text(text)
    return root


def url_from_apt(apt: Path) -> str | None:
    found = mirror_from_apt("bookworm", apt)
    return found.url if found else None


def test_deb822_sources_give_the_suites_uri(tmp_path: Path) -> None:
    apt = etc(tmp_path, {"sources.list.d/debian.sources": DEBIAN_SOURCES})
    found = mirror_from_apt("bookworm", apt)
    assert found is not None
    assert found.url == "http://ftp.example.org/debian"
    assert found.origin == str(apt / "sources.list.d/debian.sources")


def test_one_line_sources_list_with_bracketed_options_and_comments(tmp_path: Path) -> None:
    apt = etc(tmp_path, {"sources.list": SOURCES_LIST})
    found = mirror_from_apt("bookworm", apt)
    assert found is not None and found.url == "https://mirror.example.net/debian"


def test_deb822_first_then_sources_list_then_list_files(tmp_path: Path) -> None:
    apt = etc(tmp_path, {"sources.list.d/debian.sources": DEBIAN_SOURCES,
                         "sources.list": SOURCES_LIST})
    assert url_from_apt(apt) == "http://ftp.example.org/debian"
    apt2 = etc(tmp_path / "2", {"sources.list.d/local.list":
                                "deb http://list.example.org/debian bookworm main\n"})
    assert url_from_apt(apt2) == "http://list.example.org/debian"


def test_skips_what_debootstrap_cannot_use(tmp_path: Path) -> None:
    """Disabled stanzas, deb-src only, another suite (bookworm-updates does not count as
    bookworm), no `main`, a cdrom: URI; continuation lines and a second URI are read."""
    apt = etc(tmp_path, {"sources.list.d/a.sources": """\
Types: deb
URIs: http://disabled.example.org/debian
Suites: bookworm
Components: main
Enabled: no

Types: deb-src
URIs: http://src.example.org/debian
Suites: bookworm
Components: main

Types: deb
URIs: http://updates.example.org/debian
Suites: bookworm-updates
Components: main

Types: deb
URIs: http://nonfree.example.org/debian
Suites: bookworm
Components: non-free-firmware
""", "sources.list.d/b.sources": """\
types: deb deb-src
URIs: cdrom:[Debian 12]/
 http://second.example.org/debian/
Suites:
 bookworm
Components: main
"""})
    found = mirror_from_apt("bookworm", apt)
    assert found is not None and found.url == "http://second.example.org/debian"


def test_no_source_for_the_suite(tmp_path: Path) -> None:
    apt = etc(tmp_path, {"sources.list": "deb http://archive.ubuntu.com/ubuntu jammy main\n"})
    assert mirror_from_apt("bookworm", apt) is None
    assert mirror_from_apt("bookworm", tmp_path / "missing") is None


def test_explicit_url_then_environment_then_apt_then_fallback(tmp_path: Path) -> None:
    apt = etc(tmp_path, {"sources.list.d/debian.sources": DEBIAN_SOURCES})
    env = {ENV_VAR: "http://env.example.org/debian/"}
    chosen = debian_mirror("bookworm", "https://flag.example.org/debian", env, apt)
    assert (chosen.url, chosen.origin) == ("https://flag.example.org/debian", "--mirror")
    chosen = debian_mirror("bookworm", None, env, apt)
    assert (chosen.url, chosen.origin) == ("http://env.example.org/debian", ENV_VAR)
    chosen = debian_mirror("bookworm", None, {}, apt)
    assert chosen.url == "http://ftp.example.org/debian" and not chosen.fallback
    chosen = debian_mirror("bookworm", None, {}, tmp_path / "missing")
    assert chosen.url == FALLBACK and chosen.fallback
    message = apt_sources.describe(chosen, "bookworm", tmp_path / "missing")
    assert "no apt source for Debian bookworm" in message
    assert FALLBACK in message and "--mirror URL" in message and ENV_VAR in message


def test_a_bad_override_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'ftp.example.org/debian' is not a mirror URL"):
        debian_mirror("bookworm", "ftp.example.org/debian", {}, tmp_path)
    with pytest.raises(ValueError, match=ENV_VAR):
        debian_mirror("bookworm", None, {ENV_VAR: "mirror+file:/etc/apt/mirrors.txt"}, tmp_path)


def test_image_cli_rejects_a_bad_mirror(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        image.main(["--mirror", "not a url"])
    assert exit_.value.code == 2
    assert "--mirror: 'not a url' is not a URL" in capsys.readouterr().err


def test_image_builder_uses_the_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, "http://env.example.org/debian")
    assert image.debian_mirror().url == "http://env.example.org/debian"
    assert image.debian_mirror("http://flag.example.org/debian").origin == "--mirror"
    with pytest.raises(image.ImageBuildError, match="not a mirror URL"):
        image.debian_mirror("nope")


class FailingDebootstrap:
    """Stands in for `subprocess.Popen(debootstrap ...)`: records argv, prints a line, fails."""

    argv: list[str] = []

    def __init__(self, argv: list[str], **kwargs: object) -> None:
        FailingDebootstrap.argv = argv
        self.stdout = iter(["E: stopped by the test\n"])
        self.returncode = 1

    def __enter__(self) -> "FailingDebootstrap":
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def test_debootstrap_gets_the_chosen_mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("STAR_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(image.subprocess, "Popen", FailingDebootstrap)
    monkeypatch.setattr(image.paths, "system_binary", lambda name: Path("/usr/sbin") / name)
    with pytest.raises(image.ImageBuildError, match="debootstrap failed"):
        image.base_layer("http://flag.example.org/debian/")
    assert FailingDebootstrap.argv[-3:] == [
        "bookworm", str(image.images_dir() / f"base-{image.base_key()}" / "rootfs"),
        "http://flag.example.org/debian"]
    assert "from http://flag.example.org/debian (--mirror)" in capsys.readouterr().out

"""Which Debian mirror this machine uses: the rule of scripts/setup.sh's `debian_mirror`, in Python.

The image builder (star_devenv.image) debootstraps from the mirror the machine's own apt uses, so
it works wherever apt works (a local mirror, a proxy, a snapshot). In order:
  1. an explicit URL (`python -m star_devenv.image --mirror URL`), else
  2. the environment variable STAR_DEBIAN_MIRROR, else
  3. the first enabled `deb` source for the suite with component `main` in
     /etc/apt/sources.list.d/*.sources (deb822), then /etc/apt/sources.list and
     /etc/apt/sources.list.d/*.list (one-line format), else
  4. http://deb.debian.org/debian, with a message saying so and how to choose another.
"""
from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

ENV_VAR = "STAR_DEBIAN_MIRROR"
FALLBACK = "http://deb.debian.org/debian"
APT_ETC = Path("/etc/apt")
# What debootstrap can fetch from (apt's cdrom:, mirror+file: and tor+http: it cannot).
SCHEMES = ("http", "https", "ftp", "file")


@dataclass(frozen=True)
class Source:
    """One apt source entry: a deb822 stanza or a one-line `deb`/`deb-src` line."""

    types: tuple[str, ...]
    uris: tuple[str, ...]
    suites: tuple[str, ...]
    components: tuple[str, ...]
    enabled: bool = True
    origin: str = ""

    def serves(self, suite: str, component: str = "main") -> bool:
        return (self.enabled and "deb" in self.types and suite in self.suites
                and component in self.components)


@dataclass(frozen=True)
class Mirror:
    url: str
    origin: str   # where it came from, for the build's messages

    @property
    def fallback(self) -> bool:
        return self.origin == "fallback"


def parse_deb822(text: str, origin: str = "") -> list[Source]:
    """Stanzas of a `.sources` file (sources.list(5), "DEB822-STYLE FORMAT"): fields `Name:
    value`, continuation lines indented, `#` comment lines, stanzas separated by blank lines."""
    sources = []
    for stanza in _stanzas(text):
        def words(name: str, stanza: dict[str, str] = stanza) -> tuple[str, ...]:
            return tuple(stanza.get(name.lower(), "").split())
        enabled = stanza.get("enabled", "yes").strip().lower() not in ("no", "false", "0")
        sources.append(Source(words("Types"), words("URIs"), words("Suites"),
                              words("Components"), enabled, origin))
    return sources


def _stanzas(text: str) -> Iterator[dict[str, str]]:
    fields: dict[str, str] = {}
    last = ""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        if not line.strip():
            if fields:
                yield fields
            fields, last = {}, ""
        elif line[0] in " \t":
            if last:  # a continuation of the previous field's value
                fields[last] += " " + line.strip()
        else:
            name, sep, value = line.partition(":")
            if sep:
                last = name.strip().lower()
                fields[last] = value.strip()
    if fields:
        yield fields


def parse_one_line(text: str, origin: str = "") -> list[Source]:
    """Lines of a `sources.list` (one-line format): `deb [ options ] uri suite component...`,
    `#` to the end of a line a comment."""
    sources = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        kind, _, rest = line.partition(" ")
        rest = rest.strip()
        if rest.startswith("["):  # options, which may contain spaces: `[ arch=amd64 ]`
            _, close, rest = rest.partition("]")
            if not close:
                continue
        words = rest.split()
        if kind not in ("deb", "deb-src") or len(words) < 2:
            continue
        sources.append(Source((kind,), (words[0],), (words[1],), tuple(words[2:]), True, origin))
    return sources


def apt_sources(etc: Path = APT_ETC) -> list[Source]:
    """Every source entry apt would read, `.sources` files first (as scripts/setup.sh does)."""
    found: list[Source] = []
    parts = etc / "sources.list.d"
    for path in sorted(parts.glob("*.sources")):
        found += parse_deb822(_read(path), str(path))
    found += parse_one_line(_read(etc / "sources.list"), str(etc / "sources.list"))
    for path in sorted(parts.glob("*.list")):
        found += parse_one_line(_read(path), str(path))
    return found


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:   # missing, or a directory / unreadable file apt would also skip
        return ""


def usable(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in SCHEMES and bool(parts.netloc or parts.scheme == "file")


def mirror_from_apt(suite: str, etc: Path = APT_ETC) -> Mirror | None:
    """The first URI of the first enabled `deb` source for `suite` with `main` that
    debootstrap can fetch from; None when the machine has none."""
    for source in apt_sources(etc):
        if source.serves(suite):
            for uri in source.uris:
                if usable(uri):
                    return Mirror(uri.rstrip("/"), source.origin)
    return None


def debian_mirror(suite: str, override: str | None = None,
                  environ: Mapping[str, str] | None = None, etc: Path = APT_ETC) -> Mirror:
    """The mirror to debootstrap `suite` from: an explicit URL, $STAR_DEBIAN_MIRROR, the
    machine's apt sources, and only then deb.debian.org (see the module docstring)."""
    environ = os.environ if environ is None else environ
    for url, origin in ((override, "--mirror"), (environ.get(ENV_VAR), ENV_VAR)):
        if url:
            if not usable(url):
                raise ValueError(f"{origin}: {url!r} is not a mirror URL debootstrap can use "
                                 f"({', '.join(s + '://' for s in SCHEMES)})")
            return Mirror(url.rstrip("/"), origin)
    return mirror_from_apt(suite, etc) or Mirror(FALLBACK, "fallback")


def describe(mirror: Mirror, suite: str, etc: Path = APT_ETC) -> str:
    """One line for the build's output: which mirror and why."""
    if mirror.fallback:
        return (f"no apt source for Debian {suite} main in {etc}/sources.list.d/*.sources, "
                f"{etc}/sources.list or {etc}/sources.list.d/*.list: falling back to "
                f"{mirror.url} (choose another with --mirror URL or {ENV_VAR}=URL)")
    return f"mirror {mirror.url} (from {mirror.origin})"

"""Fixtures shared by the chart tests."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from star_devenv.helm import Helm


@pytest.fixture(scope="module")
def helm() -> Iterator[Helm]:
    """The real helm binary with private directories, for rendering (no cluster needed);
    modules that install into the control plane define their own."""
    h = Helm()
    yield h
    h.close()

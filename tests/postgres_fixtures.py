"""Session fixture for a real PostgreSQL server (star_devenv.postgres.LocalPostgres), for
star-ca on a database its replicas share. Each test takes a database of its own
(``LocalPostgres.database()``), so none sees another's rows."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from star_devenv.postgres import LocalPostgres


@pytest.fixture(scope="session")
def postgres() -> Iterator[LocalPostgres]:
    with LocalPostgres() as server:
        yield server

"""Shared fixtures: the real components every integration test runs against."""
import signal

import pytest

from tests.cluster_fixtures import (cdn_control_plane, cdn_kubectl,  # noqa: F401
                                   cdn_operator, control_plane, kubectl)
from tests.dns_fixtures import dns_server  # noqa: F401
from tests.node_fixtures import busybox_image, node, project_image  # noqa: F401
from tests.pebble_fixtures import pebble  # noqa: F401


def pytest_configure() -> None:
    """Treat SIGTERM like Ctrl-C so session fixtures still stop every process they started."""
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, interrupt)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """scripts/test.sh runs the suite in two pytest-xdist workers (``--dist loadgroup``), each
    with its own control plane, BIND and CAs (the session fixtures), since the tests mostly wait
    on real timers and leave the cores idle. A machine has one kubelet at a time, so every test
    on a real node goes to one worker, in collection order (last: nothing collected after them
    schedules pods onto that worker's node)."""
    for item in items:
        if item.get_closest_marker("node") is not None:
            item.add_marker(pytest.mark.xdist_group("node"))

"""Shared fixtures: the real components every integration test runs against."""
import signal

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

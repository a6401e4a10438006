"""Shared fixtures: the real components every integration test runs against."""
from tests.cluster_fixtures import control_plane, kubectl  # noqa: F401
from tests.dns_fixtures import dns_server  # noqa: F401

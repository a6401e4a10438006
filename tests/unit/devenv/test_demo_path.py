"""Which path the demo takes: the node where one can run, a clear error where --node cannot."""
from __future__ import annotations

import pytest

from star_devenv.demo import __main__ as demo


@pytest.fixture
def no_node_here(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo, "missing_requirements", lambda: ["root", "containerd not found"])


@pytest.fixture
def node_can_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo, "missing_requirements", lambda: [])


def test_default_takes_the_node_path_where_a_node_can_run(node_can_run: None) -> None:
    assert demo.use_node(None) is True
    assert demo.use_node(False) is False


def test_default_falls_back_to_host_processes_and_says_why(
        no_node_here: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert demo.use_node(None) is False
    out = capsys.readouterr().out
    assert "no node can run here (root; containerd not found)" in out


def test_explicit_node_where_none_can_run_is_a_clear_error(no_node_here: None) -> None:
    with pytest.raises(RuntimeError, match="--node: no node can run here: root; containerd"):
        demo.use_node(True)


def test_lifetime_default_depends_on_the_path(node_can_run: None) -> None:
    on_node = demo.parse_args([])
    assert demo.choose_path(on_node) is True and on_node.lifetime == demo.NODE_LIFETIME
    on_host = demo.parse_args(["--no-node"])
    assert demo.choose_path(on_host) is False and on_host.lifetime == demo.HOST_LIFETIME
    explicit = demo.parse_args(["--lifetime", "12"])
    assert demo.choose_path(explicit) is True and explicit.lifetime == 12
    assert demo.HOST_LIFETIME != demo.NODE_LIFETIME


def test_two_clusters_takes_no_node_and_its_own_lifetime_default() -> None:
    args = demo.parse_args(["--two-clusters"])
    demo.two_clusters_settings(args)
    assert args.lifetime == demo.TWO_CLUSTERS_LIFETIME
    explicit = demo.parse_args(["--two-clusters", "--lifetime", "15"])
    demo.two_clusters_settings(explicit)
    assert explicit.lifetime == 15
    with pytest.raises(RuntimeError, match="--two-clusters runs host processes only"):
        demo.two_clusters_settings(demo.parse_args(["--two-clusters", "--node"]))

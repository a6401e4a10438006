"""``kubectl star`` arguments, kind names and one-line errors (no cluster needed)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from star_operator.cli import kube, main
from star_operator.cli.errors import CliError
from star_operator.cli.resources import STARCERTIFICATE, STARORDER, split_target


def test_common_options_go_before_or_after_the_command() -> None:
    parser = main.build_parser()
    before = parser.parse_args(["-n", "shop", "--kubeconfig", "/k", "status", "sto", "web"])
    after = parser.parse_args(["status", "starorder/web", "-n", "shop", "-o", "json"])
    assert (before.namespace, before.kubeconfig, before.kind, before.name) == (
        "shop", "/k", "sto", "web")
    assert (after.namespace, after.output, after.kind, after.name) == (
        "shop", "json", "starorder/web", None)
    assert not hasattr(parser.parse_args(["status", "sto", "x"]), "namespace")


@pytest.mark.parametrize("text", ["starorder", "StarOrders", "sto",
                                  "starorders.star.operator.dev"])
def test_kind_names_as_kubectl_takes_them(text: str) -> None:
    assert split_target(text, "web", (STARORDER, STARCERTIFICATE)) == (STARORDER, "web")


def test_kind_slash_name_and_unknown_kinds() -> None:
    assert split_target("stc/cdn", None, (STARORDER, STARCERTIFICATE)) == (STARCERTIFICATE,
                                                                            "cdn")
    with pytest.raises(CliError, match="unknown kind 'pod'"):
        split_target("pod", "x", (STARORDER,))
    with pytest.raises(CliError, match="missing NAME"):
        split_target("starorder", None, (STARORDER,))


def test_api_errors_become_one_line() -> None:
    body = json.dumps({"kind": "Status", "reason": "NotFound", "message":
                       'starorders.star.operator.dev "web" not found',
                       "details": {"name": "web", "kind": "starorders"}})
    err = kube._api_error(404, body, "/apis/star.operator.dev/v1alpha1/namespaces/x/starorders/web")
    assert isinstance(err, kube.NotFound) and err.named
    crd_missing = kube._api_error(404, "404 page not found",
                                  "/apis/star.operator.dev/v1alpha1/namespaces/x/starorders/web")
    assert not crd_missing.named and "CRDs installed" in crd_missing.message
    forbidden = kube._api_error(403, json.dumps({"message": 'starorders "web" is forbidden:\n'
                                                            'User "u" cannot get'}), "/p")
    assert forbidden.message == 'forbidden: starorders "web" is forbidden: User "u" cannot get'
    assert "unauthorized" in kube._api_error(401, "", "/p").message
    assert kube._api_error(500, "boom", "/p").message == "API error (HTTP 500): boom"


def test_bad_kubeconfig_is_one_line_and_exit_1(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "config"
    bad.write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\n")
    assert main.main(["status", "sto", "web", "--kubeconfig", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("kubectl-star: error: bad kubeconfig:") and err.count("\n") == 1
    assert main.main(["inspect", "secret", "x", "--kubeconfig", str(tmp_path / "none")]) == 1
    assert "no such file" in capsys.readouterr().err


def _kubeconfig(tmp_path: Path, **namespaces: str | None) -> Path:
    """A kubeconfig for an unreachable server, one context per keyword (the first current)."""
    config = tmp_path / "config"
    config.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": next(iter(namespaces)),
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": name, "context": {"cluster": "c", "user": "u",
                                                **({"namespace": ns} if ns else {})}}
                     for name, ns in namespaces.items()]}))
    return config


def test_context_namespace_is_the_default(tmp_path: Path) -> None:
    config = _kubeconfig(tmp_path, a="shop", b=None)
    assert kube.Kube(str(config)).namespace == "shop"
    assert kube.Kube(str(config), context="b").namespace == "default"
    assert kube.Kube(str(config), namespace="edge").namespace == "edge"
    assert kube.Kube(str(config)).path(STARORDER, "w") == \
        "/apis/star.operator.dev/v1alpha1/namespaces/shop/starorders/w"


def test_unreachable_api_server_is_one_line(tmp_path: Path) -> None:
    config = _kubeconfig(tmp_path, a=None)
    with pytest.raises(CliError, match=r"^cannot reach the API server at https://127\.0\.0\.1:1"):
        kube.Kube(str(config)).get(STARORDER, "web")

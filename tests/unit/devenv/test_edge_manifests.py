"""examples/cdn-edge.yaml as the harness runs it (star_devenv.edge.manifests): nginx on the run's
port serving the run's names from the run's Secret, both containers on the imported image; an
example that no longer has what the harness adapts is an error, not a silently unchanged edge."""
from __future__ import annotations

import json
from typing import Any

import pytest

from star_devenv import edge


def docs() -> dict[str, dict[str, Any]]:
    rendered = edge.manifests("cdn-x", "docker.io/local/img:1", 9443, "www-x-tls",
                              ["www.x.test", "cdn.x.test"])
    return {d["kind"]: d for d in map(json.loads, rendered.split("\n---\n"))}


def test_nginx_listens_on_the_port_and_serves_the_names() -> None:
    conf = docs()["ConfigMap"]["data"]["nginx.conf"]
    assert conf.count("listen 127.0.0.1:9443 ssl") == 2 and "8443" not in conf
    assert "server_name www.x.test cdn.x.test;" in conf
    assert "www.star.test" not in conf
    assert "ssl_reject_handshake on;" in conf  # other names: no handshake


def test_both_containers_run_the_imported_image_with_the_run_secret() -> None:
    found = docs()
    pod = found["Deployment"]["spec"]["template"]["spec"]
    assert {c["name"] for c in pod["containers"]} == {"nginx", "reloader"}
    assert all(c["image"] == "docker.io/local/img:1" and c["imagePullPolicy"] == "Never"
               for c in pod["containers"])
    nginx = next(c for c in pod["containers"] if c["name"] == "nginx")
    assert nginx["readinessProbe"]["tcpSocket"]["port"] == 9443
    assert pod["shareProcessNamespace"] is True  # the watcher signals the nginx master
    secret = next(v for v in pod["volumes"] if "secret" in v)["secret"]
    assert secret["secretName"] == "www-x-tls"
    assert all(d["metadata"]["namespace"] == "cdn-x" for d in found.values())


def test_the_watcher_reloads_on_the_kubelet_data_swap() -> None:
    script = docs()["ConfigMap"]["data"]["reload-on-change.sh"]
    assert "--event moved_to" in script and "..data)" in script
    assert '"Watches established.")' in script  # and once the watch is up
    assert "-s reload" in script
    assert edge.VOLUME_SWAPPED in script  # what reload_events() reads back


@pytest.mark.parametrize("conf", ["server { listen 127.0.0.1:9000 ssl; server_name a; }",
                                  "server { listen 127.0.0.1:8443 ssl; }",
                                  "server { listen 127.0.0.1:8443 ssl;\n server_name a;\n"
                                  " server_name b;\n}"])
def test_a_conf_without_what_the_harness_adapts_is_refused(conf: str) -> None:
    with pytest.raises(ValueError, match="nginx.conf"):
        edge.nginx_conf(conf, 9443, ["www.x.test"])

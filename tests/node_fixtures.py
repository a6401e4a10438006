"""Session fixtures for a real node (star_devenv.node.LocalNode) and the images it runs.

`node`: containerd + kubelet + kube-scheduler on loopback, attached to the session's
`control_plane`, with the busybox image imported (also the pod sandbox image).
`busybox_image`: that image's name. `project_image`: the project's image (operator and CA),
built without Docker by star_devenv.image (cached; rebuilt when the source changes) and imported.
Pods must use `hostNetwork: true` and `imagePullPolicy: Never`.
"""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from star_devenv import image
from star_devenv.controlplane import ExistingCluster, LocalControlPlane
from star_devenv.node import LocalNode


@pytest.fixture(scope="session")
def node(control_plane: LocalControlPlane | ExistingCluster) -> Iterator[LocalNode]:
    if isinstance(control_plane, ExistingCluster):
        pytest.skip("the node fixture runs a local kubelet; it does not join an existing cluster")
    with LocalNode(control_plane) as started:
        yield started


@pytest.fixture(scope="session")
def busybox_image(node: LocalNode) -> str:
    return node.state.sandbox_image


@pytest.fixture(scope="session")
def project_image(node: LocalNode) -> str:
    archive, tag = image.build_image()
    node.import_image(archive)
    return f"docker.io/{tag}"

"""The DNO's side for the front end's tests: the operator's fixtures (control plane, BIND 9,
star-ca, CsrTemplates, the operator process), one namespace per module with its Delegations,
and the front end itself serving that namespace over HTTPS."""
from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

OPERATOR_TESTS = Path(__file__).resolve().parents[1] / "operator"
sys.path.insert(0, str(OPERATOR_TESTS))  # the operator conftest imports its helpers by name

from tests.integration.operator.conftest import (  # noqa: E402,F401
    crds, operator_process, star_ca, star_env)
from tests.integration.operator.op_env import OperatorProcess  # noqa: E402

from star_devenv.front_end import LocalFrontEnd  # noqa: E402
from star_devenv.kubectl import Kubectl  # noqa: E402
from star_devenv.two_clusters import delegation, mac_key  # noqa: E402,F401


@pytest.fixture(scope="module")
def dno_namespace(kubectl: Kubectl, operator_process: OperatorProcess) -> Iterator[str]:
    name = f"dno-{uuid.uuid4().hex[:8]}"
    kubectl.run("create", "namespace", name)
    yield name
    operator_process.delete_namespace(kubectl, name)


@pytest.fixture(scope="module")
def front_end(control_plane: Any, dno_namespace: str) -> Iterator[LocalFrontEnd]:
    with LocalFrontEnd(control_plane.kubeconfig, dno_namespace) as fe:
        yield fe

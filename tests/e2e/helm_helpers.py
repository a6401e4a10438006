"""Reading what the chart renders: finding objects, containers and RBAC verbs in it.

`Helm` (the real helm binary with private cache/config/data directories) lives in
star_devenv.helm, shared with the demo; the chart tests import it from here with the rest.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from star_devenv.helm import CHART, Helm, values_args  # noqa: F401  (re-exported)

ROOT = Path(__file__).resolve().parents[2]
CRDS = ROOT / "crds"


def find(objs: Iterable[Mapping[str, Any]], kind: str, name: str | None = None,
         namespace: str | None = None) -> list[Mapping[str, Any]]:
    return [o for o in objs if o["kind"] == kind
            and (name is None or o["metadata"]["name"] == name)
            and (namespace is None or o["metadata"].get("namespace") == namespace)]


def one(objs: Iterable[Mapping[str, Any]], kind: str, name: str | None = None,
        namespace: str | None = None) -> Mapping[str, Any]:
    found = find(objs, kind, name, namespace)
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def kinds(objs: Iterable[Mapping[str, Any]]) -> set[str]:
    return {o["kind"] for o in objs}


def container(deployment: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    for c in deployment["spec"]["template"]["spec"]["containers"]:
        if c["name"] == name:
            return c
    raise AssertionError(f"no container {name} in {deployment['metadata']['name']}")


def rules_grant(rules: Iterable[Mapping[str, Any]], group: str, resource: str) -> set[str]:
    """The verbs a list of RBAC rules grants on one resource (any resourceNames)."""
    verbs: set[str] = set()
    for rule in rules:
        if group in rule.get("apiGroups", []) and resource in rule.get("resources", []):
            verbs.update(rule["verbs"])
    return verbs

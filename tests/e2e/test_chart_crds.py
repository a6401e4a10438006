"""The chart's crds/ folder is a byte-identical copy of the top-level crds/ (the one source).

Helm installs a chart's crds/ files itself and does not follow symlinks reliably, so the chart
carries copies; this test is what keeps them from drifting. Fix a failure with
`scripts/sync-chart-crds.sh`.
"""
from __future__ import annotations

import subprocess

import yaml

from tests.e2e.helm_helpers import CHART, CRDS, ROOT, Helm

SYNC = ROOT / "scripts" / "sync-chart-crds.sh"


def test_chart_crds_are_byte_identical_to_top_level_crds() -> None:
    source = {p.name: p.read_bytes() for p in CRDS.glob("*.yaml")}
    copies = {p.name: p.read_bytes() for p in (CHART / "crds").glob("*.yaml")}
    assert source, "crds/ is empty"
    assert sorted(copies) == sorted(source), "run scripts/sync-chart-crds.sh"
    differing = [name for name in source if copies[name] != source[name]]
    assert not differing, (f"chart CRDs differ from crds/: {differing}; "
                           "run scripts/sync-chart-crds.sh")


def test_sync_script_check_mode_agrees() -> None:
    proc = subprocess.run([str(SYNC), "--check"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_sync_script_repairs_a_drifted_copy(tmp_path) -> None:
    """Run the script on a scratch copy of the repo layout: it restores and prunes."""
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / SYNC.name).write_bytes(SYNC.read_bytes())
    (tmp_path / "scripts" / SYNC.name).chmod(0o755)
    (tmp_path / "crds").mkdir()
    chart_crds = tmp_path / "charts" / "star-operator" / "crds"
    chart_crds.mkdir(parents=True)
    for p in CRDS.glob("*.yaml"):
        (tmp_path / "crds" / p.name).write_bytes(p.read_bytes())
        (chart_crds / p.name).write_bytes(p.read_bytes() + b"# drift\n")
    (chart_crds / "stale.yaml").write_text("kind: Stale\n")
    script = str(tmp_path / "scripts" / SYNC.name)

    check = subprocess.run([script, "--check"], capture_output=True, text=True, timeout=30)
    assert check.returncode == 1
    assert "differs" in check.stdout
    assert "stale: charts/star-operator/crds/stale.yaml" in check.stdout

    subprocess.run([script], check=True, capture_output=True, timeout=30)
    assert not (chart_crds / "stale.yaml").exists()
    for p in CRDS.glob("*.yaml"):
        assert (chart_crds / p.name).read_bytes() == p.read_bytes()
    assert subprocess.run([script, "--check"], timeout=30).returncode == 0


def test_helm_renders_exactly_the_crds_from_crds_dir() -> None:
    helm = Helm()
    try:
        rendered = helm.template("--include-crds").stdout
    finally:
        helm.close()
    crds = {d["metadata"]["name"]: d for d in yaml.safe_load_all(rendered)
            if d and d["kind"] == "CustomResourceDefinition"}
    expected = {yaml.safe_load(p.read_text())["metadata"]["name"]: yaml.safe_load(p.read_text())
                for p in CRDS.glob("*.yaml")}
    assert crds == expected

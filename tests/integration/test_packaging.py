"""The product wheel: what the production image installs (the image builder uses the same
``pip wheel``), so what it carries is what runs in a cluster."""
from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_carries_the_product_and_its_type_markers_but_not_the_harness(tmp_path) -> None:
    # from a copy: setuptools would also pack whatever a stale build/ in the checkout holds
    source = tmp_path / "src"
    shutil.copytree(ROOT / "operator", source / "operator",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir",
                    str(tmp_path), str(source)], check=True, timeout=300)
    wheel = next(tmp_path.glob("star_operator-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    packages = {n.split("/")[0] for n in names if n.endswith(".py")}
    assert packages == {"star_operator", "star_ca"}  # no star_devenv: harness stays out
    assert {"star_operator/py.typed", "star_ca/py.typed"} <= set(names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    scripts = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "star_devenv" not in scripts and "star-operator =" in scripts

"""What `pip install .` puts into site-packages: the project's own names and nothing else.

The design fixes the folders ``flows/``, ``tasks/`` and ``deployments/`` at the top of the
checkout; pyproject.toml maps them to ``foundry_dr.flows`` and friends. A top-level ``tasks``
in site-packages would collide with any other project that has one.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _wheel(project: Path, out: Path) -> zipfile.ZipFile:
    """Build from a copy, so the build's own folders never land in the checkout."""
    source = out / "src"
    shutil.copytree(project, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "node_modules", ".sandbox*", "build", "*.egg-info", "__pycache__", "tests", "benchmarks"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(source)],
        check=True,
        capture_output=True,
    )
    (wheel,) = out.glob("*.whl")
    return zipfile.ZipFile(wheel)


def _top_level(wheel: zipfile.ZipFile) -> set[str]:
    return {name.split("/")[0] for name in wheel.namelist() if ".dist-info/" not in name}


def test_the_product_wheel_adds_only_foundry_dr(tmp_path: Path) -> None:
    wheel = _wheel(ROOT, tmp_path)
    assert _top_level(wheel) == {"foundry_dr"}
    names = set(wheel.namelist())
    for module in ("foundry_dr/flows/cut_over.py", "foundry_dr/tasks/storage.py", "foundry_dr/deployments/serve.py"):
        assert module in names
    assert "foundry_dr/deployments/plans/example-azure.yaml" in names
    assert not any(name.startswith("foundry_dr_sandbox") for name in names), "the sandbox is its own distribution"


def test_the_sandbox_wheel_adds_only_foundry_dr_sandbox(tmp_path: Path) -> None:
    wheel = _wheel(ROOT / "sandbox", tmp_path)
    assert _top_level(wheel) == {"foundry_dr_sandbox"}
    assert "foundry_dr_sandbox/arm/providers/misc/insights.py" in wheel.namelist()


def test_every_sandbox_package_is_listed() -> None:
    """The sandbox's package list is explicit (a folder mapped to a name); a new subpackage must join it."""
    listed = set(tomllib.loads((ROOT / "sandbox" / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {
        ".".join(("foundry_dr_sandbox", *init.parent.relative_to(ROOT / "sandbox").parts))
        for init in (ROOT / "sandbox").rglob("__init__.py")
        if "build" not in init.relative_to(ROOT / "sandbox").parts
    }
    assert on_disk == listed


def test_every_product_package_is_listed() -> None:
    """foundry_dr's package list is explicit too (three folders are mapped into it)."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    folders = {"foundry_dr": ROOT / "foundry_dr", "foundry_dr.flows": ROOT / "flows",
               "foundry_dr.tasks": ROOT / "tasks", "foundry_dr.deployments": ROOT / "deployments"}
    on_disk = {
        ".".join((name, *init.parent.relative_to(folder).parts))
        for name, folder in folders.items()
        for init in folder.rglob("__init__.py")
        if "build" not in init.parts
    }
    assert on_disk == listed

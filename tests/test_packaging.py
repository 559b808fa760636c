"""Layout and packaging: namespaced import names, every package listed, the wheel ships conf/."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import tomllib

REPO = Path(__file__).resolve().parents[1]


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def _package_dirs() -> dict[str, Path]:
    """Every package pyproject declares -> its source folder (through package-dir)."""
    setuptools = _pyproject()["tool"]["setuptools"]
    mapping = setuptools["package-dir"]
    out = {}
    for pkg in setuptools["packages"]:
        parts = pkg.split(".")
        for i in range(len(parts), -1, -1):
            prefix = ".".join(parts[:i])
            if prefix in mapping:
                out[pkg] = REPO / mapping[prefix] / Path(*parts[i:])
                break
    return out


def test_every_package_folder_is_listed() -> None:
    declared = {p.resolve() for p in _package_dirs().values()}
    for p in declared:
        assert (p / "__init__.py").is_file(), p
    on_disk = {
        init.parent.resolve()
        for root in ("core", "plugins", "conf")
        for init in (REPO / root).rglob("__init__.py")
    }
    assert on_disk <= declared, f"add to pyproject packages: {sorted(map(str, on_disk - declared))}"


def test_entry_points_name_importable_plugins() -> None:
    import importlib

    for name, target in _pyproject()["project"]["entry-points"]["alignrun"].items():
        module = importlib.import_module(target)
        assert hasattr(module, "alignrun_config_searchpath"), name


@pytest.mark.parametrize("name", ["core", "plugins", "conf"])
def test_source_roots_are_not_importable(tmp_path: Path, name: str) -> None:
    res = subprocess.run(
        [sys.executable, "-c", f"import {name}"], cwd=tmp_path, capture_output=True, text=True
    )
    assert res.returncode != 0 and "ModuleNotFoundError" in res.stderr


@pytest.mark.slow
def test_wheel_ships_configs_and_runs(tmp_path: Path) -> None:
    """Build the wheel, install it alone into a folder, and run the loop from it."""
    src = tmp_path / "src"  # build from a copy: setuptools leaves build/ and egg-info behind
    skip = shutil.ignore_patterns(
        ".*", "__pycache__", "*.egg-info", "build", "dist", "tests", "docs", "outputs", "multirun", "bench"
    )
    shutil.copytree(REPO, src, ignore=skip)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(tmp_path / "dist"),
            str(src),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = (tmp_path / "dist").glob("alignrun-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "alignrun/conf/alignrun.yaml",
        "alignrun/conf/values/helpful.yaml",
        "alignrun/conf/model/__init__.py",
        "alignrun_none/conf/method/none.yaml",
        "alignrun/data/files/helpful.pairs.jsonl",
        "alignrun/py.typed",
    ):
        assert needed in names, needed
    assert not any(n.startswith(("core/", "plugins/", "conf/", "tests/")) for n in names)

    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    code = (
        "import alignrun, alignrun_none, sys; print(alignrun.__file__); print(alignrun_none.__file__);"
        "from alignrun.cli import main; main(['+method=none', 'experiment=smoke', 'loggers=[]', "
        "'hydra.run.dir=D'])"
    )
    env = {"PYTHONPATH": str(target), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr
    assert all(line.startswith(str(target)) for line in res.stdout.splitlines()[:2])
    assert (tmp_path / "D" / "results.json").is_file()

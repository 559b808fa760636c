"""Layout and packaging: namespaced import names, every package listed, the wheel ships conf/."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import tomllib

REPO = Path(__file__).resolve().parents[2]


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def _layout() -> tuple[dict[str, str], list[str]]:
    """setup.py's package_dir and packages, as the build sees them."""
    sys.path.insert(0, str(REPO))
    try:
        import setup

        return setup.layout()
    finally:
        sys.path.remove(str(REPO))


def _package_dirs() -> dict[str, Path]:
    """Every package the build ships -> its source folder (through package_dir)."""
    mapping, packages = _layout()
    out = {}
    for pkg in packages:
        parts = pkg.split(".")
        for i in range(len(parts), -1, -1):
            prefix = ".".join(parts[:i])
            if prefix in mapping:
                out[pkg] = REPO / mapping[prefix] / Path(*parts[i:])
                break
    return out


def test_every_package_folder_is_shipped() -> None:
    """A folder of code or configs without ``__init__.py`` would silently drop out of the wheel."""
    declared = {p.resolve() for p in _package_dirs().values()}
    for p in declared:
        assert (p / "__init__.py").is_file(), p
    on_disk = {
        f.parent.resolve()
        for root in ("core", "plugins", "conf")
        for pattern in ("*.py", "*.yaml")
        for f in (REPO / root).rglob(pattern)
        if "egg-info" not in str(f)
    }
    missing = sorted(str(p.relative_to(REPO)) for p in on_disk - declared)
    assert not missing, f"not shipped (add an __init__.py): {missing}"


def test_each_built_in_plugin_folder_has_one_entry_point() -> None:
    targets = set(_pyproject()["project"]["entry-points"]["alignrun"].values())
    folders = {p.name for p in (REPO / "plugins").iterdir() if (p / "__init__.py").is_file()}
    assert targets == folders, f"entry points without a folder: {sorted(targets - folders)}; " + (
        f"folders without an entry point: {sorted(folders - targets)}"
    )


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
        "alignrun_dpo/conf/method/dpo.yaml",
        "alignrun/conf/method/lora/default.yaml",
        "alignrun/lib/training/trainer.py",
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

"""Which folders become which packages — derived, so that adding a built-in plugin is its folder under
plugins/ plus one entry-point line in pyproject.toml (everything else about the project is there).

Packages are folders with an ``__init__.py`` (every config folder Hydra reads needs one anyway):
``core/alignrun`` is ``alignrun``, ``conf`` ships as ``alignrun.conf``, each ``plugins/<name>`` is
``<name>``. An explicit list with ``package_dir`` mappings, not ``packages.find``: ``find`` together
with a mapping for ``conf/`` silently drops ``conf/`` from the wheel (docs/architecture.md, "Layout").
tests/meta/test_packaging.py checks the wheel holds every package.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).parent


def tree(folder: str, name: str) -> list[str]:
    """``name`` and every package below ``folder`` (which is ``name``), dotted."""
    return [name, *(f"{name}.{sub}" for sub in find_packages(str(ROOT / folder)))]


def plugin_folders() -> list[str]:
    """The built-in plugin packages: every folder under plugins/ with an ``__init__.py``."""
    return sorted(p.name for p in (ROOT / "plugins").iterdir() if (p / "__init__.py").is_file())


def layout() -> tuple[dict[str, str], list[str]]:
    """``package_dir`` and ``packages`` for setuptools."""
    plugins = plugin_folders()
    package_dir = {"": "core", "alignrun.conf": "conf", **{p: f"plugins/{p}" for p in plugins}}
    packages = [
        *find_packages(str(ROOT / "core")),
        *tree("conf", "alignrun.conf"),
        *(pkg for p in plugins for pkg in tree(f"plugins/{p}", p)),
    ]
    return package_dir, packages


if __name__ == "__main__":
    package_dir, packages = layout()
    setup(package_dir=package_dir, packages=packages)

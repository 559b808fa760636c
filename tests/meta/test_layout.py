"""The folder layout matches docs/architecture.md, and the source cites that document, nothing older.

- The core never imports the shared libraries (``alignrun.lib``): methods use them, the core loop
  does not (docs/architecture.md, "Layout").
- No file of the project names the team's old design notes (their name is built below, so this
  file does not name them either).
- Every module and subpackage of ``core/alignrun/`` and ``core/alignrun/lib/`` is listed in the
  document's Layout section, and every module it lists exists. The convention: a name in backticks
  ending in ``.py`` or ``/`` is a path relative to ``core/alignrun/``, unless it starts with a
  top-level folder (``core/``, ``plugins/``, ``conf/`` ...) or is a root file (``setup.py``); names
  holding ``<`` are placeholders.
- Every section the source cites as ``docs/architecture.md, "<Heading>"`` is a heading there.

Plain text and ``ast`` only: no torch, no alignrun import.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "core" / "alignrun"
LIB = PACKAGE / "lib"
ARCHITECTURE = REPO / "docs" / "architecture.md"
SELF = "tests/meta/test_layout.py"
OLD_NOTES = "DESIGN" + ".md"
# folders the project's own files live in (the notes check); README.md is checked by its own owner
SCANNED = ["core", "plugins", "tests", "bench", "conf", "docs", "pyproject.toml"]
CITING = [*SCANNED, "README.md"]
SKIPPED_DIRS = {"__pycache__", "build", "dist", "node_modules"}  # .gitignore's build outputs
TOP_LEVEL = {"core", "plugins", "conf", "docs", "tests", "bench"}
ROOT_FILES = {"setup.py"}  # files at the repository root the Layout section names
SECTIONS = [
    "Layout",
    "Contracts",
    "Hooks",
    "One run, step by step",
    "The results contract",
    "Measuring values",
    "Models offline",
]
CITATION = re.compile(r'docs/architecture\.md,(?:\s|#)*"([^"]{1,120})"')


def project_files(roots: list[str], base: Path | None = None) -> list[Path]:
    """Every file under ``roots`` (folders or files of ``base``, the repo by default), build outputs and
    hidden folders skipped."""
    base = base or REPO
    out: list[Path] = []
    for root in roots:
        path = base / root
        if path.is_file():
            out.append(path)
            continue
        for p in sorted(path.rglob("*")):
            parts = p.relative_to(base).parts
            if any(x in SKIPPED_DIRS or x.startswith(".") or x.endswith(".egg-info") for x in parts[:-1]):
                continue
            if p.is_file() and p.suffix not in {".pyc", ".pyo"}:
                out.append(p)
    return out


# -------------------------------------------------------------------------
# (a) the core does not import the shared libraries
# -------------------------------------------------------------------------


def _module_name(path: Path, package_root: Path) -> tuple[str, bool]:
    """Dotted name of ``path`` under ``package_root``'s parent, and whether it is a package's ``__init__``."""
    rel = path.relative_to(package_root.parent).with_suffix("")
    parts = list(rel.parts)
    is_init = parts[-1] == "__init__"
    if is_init:
        parts = parts[:-1]
    return ".".join(parts), is_init


def _absolute(node: ast.ImportFrom, module: str, is_init: bool) -> str:
    """The absolute module an ``ImportFrom`` reads from (relative imports resolved against ``module``)."""
    if not node.level:
        return node.module or ""
    package = module.split(".") if is_init else module.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _is_lib(name: str) -> bool:
    return name == "alignrun.lib" or name.startswith("alignrun.lib.")


def lib_imports(source: str, module: str, is_init: bool = False) -> list[tuple[int, str]]:
    """``(line, imported name)`` for every import of ``alignrun.lib`` in ``source``: module level,
    inside functions or ``TYPE_CHECKING`` blocks, relative, ``from alignrun import lib``, and
    ``importlib.import_module`` / ``__import__`` with a literal name."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if _is_lib(a.name)]
        elif isinstance(node, ast.ImportFrom):
            origin = _absolute(node, module, is_init)
            if _is_lib(origin):
                found.append((node.lineno, origin))
            else:
                found += [
                    (node.lineno, f"{origin}.{a.name}") for a in node.names if _is_lib(f"{origin}.{a.name}")
                ]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            arg = node.args[0].value
            if name in {"import_module", "__import__"} and isinstance(arg, str) and _is_lib(arg):
                found.append((node.lineno, arg))
    return sorted(found)


def core_modules() -> list[Path]:
    return [p for p in sorted(PACKAGE.rglob("*.py")) if LIB not in p.parents and "__pycache__" not in p.parts]


def test_the_import_scanner_finds_every_form_of_import() -> None:
    source = """
from __future__ import annotations
from typing import TYPE_CHECKING
import alignrun.lib.training
from alignrun.lib.sae import model
from alignrun import lib, loop
from . import lib as shared
from .lib.search import Study
import importlib
if TYPE_CHECKING:
    from alignrun.lib.graphs.model import ValueGraph
def later():
    from alignrun.lib import roles
    importlib.import_module("alignrun.lib.search")
from alignrun.library import x
from alignrun import libraries
import alignrun.loop
"""
    lines = [line for line, _ in lib_imports(source, "alignrun.loop")]
    assert lines == [4, 5, 6, 7, 8, 11, 13, 14]
    assert lib_imports("from ..lib import roles\n", "alignrun.models.hf") == [(1, "alignrun.lib")]
    assert lib_imports("from .. import lib\n", "alignrun.models", is_init=True) == [(1, "alignrun.lib")]
    assert lib_imports("from . import lib\n", "alignrun", is_init=True) == [(1, "alignrun.lib")]


def test_the_core_scan_covers_the_core() -> None:
    names = {p.relative_to(PACKAGE).as_posix() for p in core_modules()}
    assert {"loop.py", "contracts.py", "models/hf.py", "profile/__init__.py"} <= names
    assert not any(n.startswith("lib/") for n in names)


def test_no_core_module_imports_the_shared_libraries() -> None:
    offending = []
    for path in core_modules():
        module, is_init = _module_name(path, PACKAGE)
        for line, name in lib_imports(path.read_text(encoding="utf-8"), module, is_init):
            offending.append(f"{path.relative_to(REPO)}:{line}: imports {name}")
    assert not offending, (
        "the core must not import alignrun.lib (methods use it; docs/architecture.md, "
        '"Layout"):\n' + "\n".join(offending)
    )


# -------------------------------------------------------------------------
# (b) nothing cites the old design notes
# -------------------------------------------------------------------------


def files_naming(needle: str, roots: list[str], base: Path | None = None) -> list[str]:
    base = base or REPO
    hits = []
    for path in project_files(roots, base):
        data = path.read_bytes()
        if needle.encode() not in data:
            continue
        text = data.decode("utf-8", errors="replace").splitlines()
        where = [i for i, line in enumerate(text, 1) if needle in line] or [0]
        hits += [f"{path.relative_to(base)}:{i}" for i in where]
    return hits


def test_the_notes_scan_finds_a_mention(tmp_path: Path) -> None:
    (tmp_path / "core" / "pkg").mkdir(parents=True)
    (tmp_path / "core" / "pkg" / "a.py").write_text(f'"""See {OLD_NOTES} §3."""\n')
    (tmp_path / "core" / "pkg" / "__pycache__").mkdir()
    (tmp_path / "core" / "pkg" / "__pycache__" / "a.cpython-311.pyc").write_bytes(OLD_NOTES.encode())
    (tmp_path / "pyproject.toml").write_text(f"# {OLD_NOTES}\n")
    assert files_naming(OLD_NOTES, ["core", "pyproject.toml"], tmp_path) == [
        "core/pkg/a.py:1",
        "pyproject.toml:1",
    ]


def test_no_file_cites_the_old_design_notes() -> None:
    hits = files_naming(OLD_NOTES, SCANNED)
    assert not hits, f"cite docs/architecture.md instead of {OLD_NOTES}:\n" + "\n".join(hits)


# -------------------------------------------------------------------------
# (c) the Layout section lists the package as it is
# -------------------------------------------------------------------------


def section(text: str, heading: str) -> str:
    """The body of the ``## heading`` section of a Markdown text (fenced code left in)."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    assert match, f"docs/architecture.md has no '## {heading}' section"
    return match.group(1)


def listed_paths(layout: str) -> set[str]:
    """Backticked names ending in ``.py`` or ``/``, as repo-relative paths (placeholders dropped)."""
    out = set()
    for name in re.findall(r"`([^`\s]+)`", layout):
        if "<" in name or not re.fullmatch(r"[A-Za-z_][\w.*/-]*(?:\.py|/)", name):
            continue
        top = name.split("/", 1)[0]
        out.add(name if top in TOP_LEVEL or name in ROOT_FILES else f"core/alignrun/{name}")
    return out


def expected_paths() -> set[str]:
    """Every module (``__init__.py`` aside) and subpackage of ``core/alignrun/`` and its ``lib/``."""
    out = set()
    for folder in (PACKAGE, LIB):
        for p in folder.iterdir():
            rel = p.relative_to(REPO).as_posix()
            if p.is_dir() and (p / "__init__.py").is_file():
                out.add(rel + "/")
            elif p.suffix == ".py" and p.name != "__init__.py":
                out.add(rel)
    return out


def test_layout_convention_reads_paths() -> None:
    text = (
        "`loop.py` and `lib/sae/`, `plugins/alignrun_mva/`, `plugins/alignrun_<name>/`, `method: x`, `lm`, "
        "names ending in `.py` or `/`, `pkg://alignrun.conf`, `pkg://`"
    )
    assert listed_paths(text) == {"core/alignrun/loop.py", "core/alignrun/lib/sae/", "plugins/alignrun_mva/"}


def test_layout_lists_every_module_and_subpackage() -> None:
    listed = listed_paths(section(ARCHITECTURE.read_text(encoding="utf-8"), "Layout"))
    expected = expected_paths()
    assert {"core/alignrun/loop.py", "core/alignrun/lib/", "core/alignrun/lib/search.py"} <= expected
    missing = sorted(expected - listed)
    assert not missing, (
        "docs/architecture.md's Layout section does not list (as `name.py` / `name/`, relative to "
        "core/alignrun/): " + ", ".join(missing)
    )


def test_every_path_the_layout_lists_exists() -> None:
    listed = listed_paths(section(ARCHITECTURE.read_text(encoding="utf-8"), "Layout"))
    gone = sorted(
        p for p in listed if not (REPO / p).exists() or (p.endswith("/") and not (REPO / p).is_dir())
    )
    assert not gone, "docs/architecture.md's Layout section lists what does not exist: " + ", ".join(gone)


# -------------------------------------------------------------------------
# (d) every cited section exists
# -------------------------------------------------------------------------


def headings(text: str) -> list[str]:
    body = re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)  # a '## ' inside code is no heading
    return re.findall(r"^## (.+?)\s*$", body, flags=re.M)


def citations(text: str) -> list[str]:
    """Sections cited as ``docs/architecture.md, "<Heading>"``, also across a line break (a docstring
    or a ``#`` comment going on)."""
    return [re.sub(r"\s*\n\s*(?:#\s*)?", " ", m).strip() for m in CITATION.findall(text)]


def test_citation_pattern_reads_wrapped_citations() -> None:
    text = (
        'a (docs/architecture.md, "Layout").\n'
        'b (docs/architecture.md, "Measuring\nvalues"): c\n'
        '# d (docs/architecture.md,\n# "One run,\n# step by step")\n'
        "e docs/architecture.md alone\n"
    )
    assert citations(text) == ["Layout", "Measuring values", "One run, step by step"]


def test_the_document_has_its_sections() -> None:
    found = headings(ARCHITECTURE.read_text(encoding="utf-8"))
    assert [h for h in found if h in SECTIONS] == SECTIONS, f"sections, in order: {SECTIONS}; found {found}"


def test_every_cited_section_exists() -> None:
    found = set(headings(ARCHITECTURE.read_text(encoding="utf-8")))
    cited: dict[str, list[str]] = {}
    for path in project_files(CITING):
        if path.relative_to(REPO).as_posix() == SELF:  # its own examples are no citations
            continue
        if path.suffix not in {".py", ".md", ".toml", ".yaml", ".yml", ".txt", ".cfg"}:
            continue
        for heading in citations(path.read_text(encoding="utf-8", errors="replace")):
            cited.setdefault(heading, []).append(str(path.relative_to(REPO)))
    assert {"Layout", "Contracts"} <= set(cited), "the citation scan found none of the known citations"
    unknown = {h: where for h, where in cited.items() if h not in found}
    assert not unknown, "docs/architecture.md has no such section: " + "; ".join(
        f'"{h}" (cited in {", ".join(sorted(set(w)))})' for h, w in unknown.items()
    )


@pytest.mark.parametrize("name", ["plugin_hooks.md", "results.md"])
def test_the_document_points_to_the_full_references(name: str) -> None:
    assert f"({name})" in ARCHITECTURE.read_text(encoding="utf-8")

"""The core's import structure, read from the source: acyclic, and no module imports a higher floor.

Every import counts — top-level and function-local — except those under ``if TYPE_CHECKING:`` (types
only, never run). Importing ``a.b.c`` runs ``a.b``'s ``__init__`` too, so that package is a dependency
as well. The root package ``alignrun`` is left out as a target: Python runs it before any submodule,
whatever imports what, and it only re-exports the contracts (it must stay cheap; test_cli checks
``--help`` loads no torch). The floors are docs/architecture.md's "Layers".
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx  # type: ignore[import-untyped]
import pytest

CORE = Path(__file__).resolve().parents[2] / "core"
ROOT = "alignrun"

# docs/architecture.md, "Layers": ground floor first; a module may import its own floor or lower.
# The most specific prefix decides (``alignrun.judges.report`` is not where ``alignrun.judges`` is).
FLOORS: list[tuple[str, ...]] = [
    (  # 0 ground: no domain knowledge
        "errors", "atomic", "settings", "schema", "instantiate", "pareto", "uncertainty", "cache",
        "distributed", "run_dir", "hookspecs", "embeddings", "held_weights", "fluency", "interrupts",
    ),
    ("contracts", "lm", "interventions", "generation"),  # 1 the model, how it is steered, its engines
    ("profile", "data", "scorers", "judges", "models", "derive"),  # 2 the domains
    (  # 3 one run, measured and written
        "run", "defaults", "evaluation", "evaluation_cache", "degenerate", "breakdown", "eval_samples",
        "results", "plots", "judges.report", "finish", "loggers", "trackers",
    ),
    # 4 composition: the catalogue of options (every plugin's search path), the checks of every domain's
    # node, and what builds by name through them
    ("config", "plugins", "value_prompt", "judges.reward_head", "sweep_report", "callbacks"),
    ("lib", "loop", "cli", "__main__", "judges.serve"),  # 5 the recipes' libraries and the entry points
]  # fmt: skip


def module_name(path: Path) -> str:
    parts = list(path.relative_to(CORE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in (CORE / ROOT).rglob("*.py")}


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported(name: str, path: Path) -> set[str]:
    """The names ``name``'s source imports anywhere but under ``if TYPE_CHECKING:`` (absolute)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking(child):
                for stmt in child.orelse:
                    visit(stmt)
                continue
            if isinstance(child, ast.Import):
                found.update(a.name for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[: len(package.split(".")) - child.level + 1]
                    module = ".".join(base + ([child.module] if child.module else []))
                else:
                    module = child.module or ""
                found.add(module)
                found.update(f"{module}.{a.name}" for a in child.names)  # `from pkg import submodule`
            visit(child)

    visit(ast.parse(path.read_text(), str(path)))
    return found


def _resolve(imported: str) -> str | None:
    """The core module an imported name lives in (None: not the core's)."""
    while imported and imported not in MODULES:
        imported = imported.rpartition(".")[0]
    return imported or None


def import_graph() -> nx.DiGraph:
    graph = nx.DiGraph()
    graph.add_nodes_from(MODULES)
    for name, path in MODULES.items():
        for imported in _imported(name, path):
            target = _resolve(imported)
            if target is None:
                continue
            parts = target.split(".")
            for i in range(2, len(parts) + 1):  # the packages on the way run their __init__ first
                dep = ".".join(parts[:i])
                if dep in MODULES and dep != name and not name.startswith(dep + "."):
                    graph.add_edge(name, dep)
    return graph


def floor_of(name: str) -> int:
    rel = name.removeprefix(ROOT + ".")
    best: tuple[int, int] | None = None  # (prefix length, floor)
    for floor, prefixes in enumerate(FLOORS):
        for prefix in prefixes:
            matches = rel == prefix or rel.startswith(prefix + ".")
            if matches and (best is None or len(prefix) > best[0]):
                best = (len(prefix), floor)
    if best is None:
        raise AssertionError(f"{name} has no floor: add it to FLOORS and to docs/architecture.md, 'Layers'")
    return best[1]


def test_the_graph_sees_function_local_and_package_imports() -> None:
    graph = import_graph()
    assert graph.has_edge("alignrun.loop", "alignrun.finish")  # imported inside run_job
    assert graph.has_edge("alignrun.loop", "alignrun.derive")  # a function-local import
    assert not graph.has_edge("alignrun.contracts", "alignrun.lm")  # under TYPE_CHECKING only
    assert graph.number_of_edges() > 150


def test_core_imports_are_acyclic() -> None:
    graph = import_graph()
    cycles = [sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1]
    assert not cycles, f"import cycles in core/alignrun: {cycles}"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n != ROOT))
def test_no_module_imports_a_higher_floor(name: str) -> None:
    graph = _GRAPH
    own = floor_of(name)
    higher = sorted(d for d in graph.successors(name) if d != ROOT and floor_of(d) > own)
    assert not higher, f"{name} (floor {own}) imports {[(d, floor_of(d)) for d in higher]}"


_GRAPH = import_graph()


def test_run_job_reads_like_its_docstring() -> None:
    # one call per phase (docs/architecture.md, "One run, step by step"); its work lives in the phases
    tree = ast.parse((CORE / ROOT / "loop.py").read_text())
    (run_job,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "run_job"]
    assert run_job.end_lineno is not None
    assert run_job.end_lineno - run_job.lineno + 1 <= 60

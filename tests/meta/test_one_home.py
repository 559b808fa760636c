"""Each default has one home: a YAML node that builds a class or function (``_target_``) does not
restate a default the target's signature also keeps.

A target built from one node takes its defaults from that node (``settings.signature_from`` and
``defaults_from``: the parameter reads ``= from_yaml()``). A library target that several nodes build
(one loader per value, the same class in two methods' files) keeps its Python default, and each node
states the knob so that ``key=value`` overrides it without ``+`` (Hydra's configs are struct): those
are listed in ``SHARED`` with why, so a new duplicate fails here instead of drifting apart unseen.

Read from the source (``ast``) and the YAML as files: nothing is imported.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {
    "alignrun": ROOT / "core" / "alignrun",
    "alignrun_example": ROOT / "docs" / "examples" / "alignrun-example" / "alignrun_example",
    **{p.name: p for p in (ROOT / "plugins").iterdir() if (p / "__init__.py").is_file()},
}
CONF_FILES = sorted(
    f for package in PACKAGES.values() for f in (package.parent / package.name / "conf").rglob("*.yaml")
)
CONF_FILES += sorted((ROOT / "conf").rglob("*.yaml"))  # the core's conf/, shipped as alignrun.conf

SHARED = {  # target -> which nodes build it (so no one node can be the home of its defaults)
    "alignrun.Value": "every value file (helpful, harmless, honest, the example's concise and thrift)",
    "alignrun.profile.schwartz.schwartz_value": "the ten Schwartz value files",
    "alignrun.scorers.preference.PreferenceScorer": "the helpful, harmless and honest value files",
    "alignrun.profile.ValueProfiler": "profile=behavioural and profile=self_report",
    "alignrun.data.DataSpec": "the bundled, hh_rlhf and pku_saferlhf data presets",
    "alignrun.data.loaders.hh_rlhf": "data=hh_rlhf, once per value",
    "alignrun.data.loaders.pku_saferlhf": "data=pku_saferlhf, once per value",
    "alignrun.data.loaders.valuebench_questionnaire": "values=valuebench and profile=valuebench",
    "alignrun.judges.ensemble.Ensemble": "judge=ensemble and method=judge_check",
    "alignrun.lib.sae.source.SAESource": "method=sae_steering and method=value_graph",
    # a core library class whose only node is a plugin's (method=sae_steering's sae.training): the
    # core reading a plugin's file would turn the tiers upside down (docs/architecture.md)
    "alignrun.lib.sae.train.SAETraining": "method=sae_steering (a plugin's file)",
}


def _source(module: str) -> Path | None:
    top, _, rest = module.partition(".")
    if top not in PACKAGES:
        return None
    base = PACKAGES[top].joinpath(*rest.split(".")) if rest else PACKAGES[top]
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _definition(target: str) -> ast.FunctionDef | ast.ClassDef | None:
    """The def or class ``target`` names, following re-exports (``alignrun_dpo.DPO`` is in .method)."""
    module, _, name = target.rpartition(".")
    path = _source(module)
    if path is None:
        return None
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name == name:
            return node
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if (alias.asname or alias.name) == name:
                    base = package.rsplit(".", node.level - 1)[0] if node.level else ""
                    origin = ".".join(p for p in (base, node.module or "") if p)
                    return _definition(f"{origin}.{alias.name}")
    return None


def _literal(node: ast.expr) -> Any:
    """A default written as a literal (or ``ranged(<literal>, ...)``); anything else is not one."""
    if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "ranged" and node.args:
        node = node.args[0]
    try:
        return ast.literal_eval(node)
    except ValueError:
        return _NOT_LITERAL


_NOT_LITERAL = object()


def literal_defaults(definition: ast.FunctionDef | ast.ClassDef) -> dict[str, Any]:
    """Parameter (or dataclass field) -> its literal default."""
    found: dict[str, ast.expr] = {}
    functions = [definition] if isinstance(definition, ast.FunctionDef) else []
    if isinstance(definition, ast.ClassDef):
        for item in definition.body:
            if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                functions.append(item)
            elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name) and item.value:
                found[item.target.id] = item.value
    for function in functions:
        args = function.args
        positional = args.posonlyargs + args.args
        found.update(
            (a.arg, d)
            for a, d in zip(positional[len(positional) - len(args.defaults) :], args.defaults, strict=True)
        )
        found.update(
            (a.arg, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is not None
        )
    return {name: value for name, node in found.items() if (value := _literal(node)) is not _NOT_LITERAL}


def target_nodes(data: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(data, dict):
        if "_target_" in data:
            yield where, data
        for key, value in data.items():
            yield from target_nodes(value, f"{where}.{key}")
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from target_nodes(value, f"{where}[{i}]")


def restated() -> list[tuple[str, str, str]]:
    """(file:node.key, target, value) for every YAML literal equal to its target's literal default."""
    found = []
    for file in CONF_FILES:
        data = OmegaConf.to_container(OmegaConf.load(file), resolve=False)
        for where, node in target_nodes(data, ""):
            definition = _definition(node["_target_"])
            if definition is None:
                continue  # a library's own class (hydra, torch): not ours to give defaults
            defaults = literal_defaults(definition)
            for key, value in node.items():
                if key in defaults and not isinstance(value, dict | list) and defaults[key] == value:
                    found.append((f"{file.relative_to(ROOT)}:{where}.{key}", node["_target_"], repr(value)))
    return found


def test_the_scan_reads_what_it_checks() -> None:
    assert len(CONF_FILES) > 60, CONF_FILES
    assert (
        _definition("alignrun_dpo.DPO") is not None
    )  # a re-export followed to plugins/alignrun_dpo/method.py
    assert literal_defaults(_definition("alignrun.Value"))["weight"] == 1.0  # type: ignore[arg-type]


def test_no_yaml_restates_a_default_its_target_keeps() -> None:
    unexpected = [
        f"{where} = {value} is also {target}'s default"
        for where, target, value in restated()
        if target not in SHARED
    ]
    assert not unexpected, (
        "a default with two homes: give the parameter `= from_yaml()` and its class or function "
        "`@signature_from(<file>)` (a dataclass: `@defaults_from`), or, if several nodes build it, add it "
        "to SHARED with why:\n" + "\n".join(unexpected)
    )


def test_shared_list_is_current() -> None:
    assert {target for _, target, _ in restated()} >= set(SHARED), (
        "a SHARED target no longer restated: drop it"
    )

"""Every config composes, and every ``_target_`` node's keys bind to its target's signature."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hydra.utils import get_object
from omegaconf import OmegaConf

from alignrun.config import (
    AlignrunSchema,
    check_config,
    compose,
    group_choice,
    installed_options,
    takes_name,
)
from alignrun.errors import AlignrunError
from alignrun.profile.schwartz import SCHWARTZ_VALUES

GROUPS = ["method", "model", "values", "data", "judge", "steering", "loggers", "experiment", "profile"]
JUDGE_NODES = ("judge.evaluator", "method.judges")  # built per value: the core passes what the target takes
OPTIONS = [(g, o) for g in GROUPS for o in installed_options(g)]
REPO = Path(__file__).resolve().parents[2]
CONF, PLUGINS = REPO / "conf", REPO / "plugins"
# the shared groups under conf/method/ and the built-in methods that pull each in (at method.<group>)
SHARED = {
    "lora": ["dpo", "mva", "rlhf", "mod", "conditioned"],
    "train": ["dpo", "mva", "rlhf", "mod", "conditioned"],
    "loss": ["dpo", "mva", "mod", "conditioned"],
    "roles": ["value_graph", "prompt_steering", "sae_steering"],
    "sampling": ["value_graph", "prompt_steering", "sae_steering"],
    "placebo": ["value_graph", "prompt_steering"],  # placebo@_here_: its one key lands at method.placebo
}
SHARED_USES = [(g, m) for g, methods in SHARED.items() for m in methods]


def _shared(group: str) -> dict[str, Any]:
    """The shared group's default option, as written in conf/method/<group>/default.yaml."""
    node = OmegaConf.to_container(OmegaConf.load(CONF / "method" / group / "default.yaml"))
    assert isinstance(node, dict)
    return {str(k): v for k, v in node.items()}


def _own(method: str) -> dict[str, Any]:
    """A built-in method's own config file, defaults list included, unresolved."""
    node = OmegaConf.to_container(OmegaConf.load(PLUGINS / f"alignrun_{method}/conf/method/{method}.yaml"))
    assert isinstance(node, dict)
    return {str(k): v for k, v in node.items()}


def _override(group: str, option: str) -> list[str]:
    if group == "method":
        return [f"+method={option}"]
    if group in ("values", "loggers"):
        return [f"{group}=[{option}]"]
    if group == "experiment" and _picks_a_method(option):  # experiment=mva_authors brings +method=mva
        return [f"experiment={option}"]
    return ["+method=none", f"{group}={option}"]


def _picks_a_method(experiment: str) -> bool:
    """Whether an experiment's defaults list chooses the method itself (``- /method: mva``), or includes
    another experiment that does (``- mva_authors``)."""
    found = [
        *CONF.glob(f"experiment/{experiment}.yaml"),
        *PLUGINS.glob(f"*/conf/experiment/{experiment}.yaml"),
    ]
    assert len(found) == 1, found
    node = OmegaConf.to_container(OmegaConf.load(found[0]))
    assert isinstance(node, dict)
    return any(
        ("/method" in d) if isinstance(d, dict) else (d != "_self_" and _picks_a_method(d))
        for d in node.get("defaults", [])
    )


def _target_nodes(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = []
    if isinstance(node, dict):
        if "_target_" in node:
            found.append((path, node))
        for key, child in node.items():
            found += _target_nodes(child, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for i, item in enumerate(node):
            found += _target_nodes(item, f"{path}[{i}]")
    return found


def test_composition_covers_every_group_of_conf() -> None:
    # a group folder left out of GROUPS is never composed here (profile/ was, and went untested)
    groups = {p.name for p in CONF.iterdir() if p.is_dir() and any(p.glob("*.yaml"))}
    assert groups <= set(GROUPS), f"add {sorted(groups - set(GROUPS))} to GROUPS"


def test_every_group_has_options() -> None:
    for group in GROUPS:
        assert installed_options(group), group
    assert "none" in installed_options("method")
    assert {"none", "system_prompt"} <= set(installed_options("steering"))


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_config_composes_and_binds(group: str, option: str) -> None:
    cfg = compose(_override(group, option))
    if group in ("values", "loggers"):  # multi-select: Hydra records no single choice
        assert list(cfg[group]) == (list(SCHWARTZ_VALUES) if option == "schwartz" else [option])
    else:
        assert group_choice(cfg, group) == option
    if group == "method":
        assert OmegaConf.is_dict(cfg.method) and "_target_" in cfg.method
    body = OmegaConf.to_container(OmegaConf.masked_copy(cfg, [str(k) for k in cfg if k != "hydra"]))
    for path, node in _target_nodes(body):
        target = get_object(node["_target_"])
        kwargs: dict[str, Any] = {str(k): None for k in node if not str(k).startswith("_")}  # names only
        if path.startswith("values.") and path.count(".") == 1 and takes_name(node):
            kwargs["name"] = path.split(".")[1]  # the core loop passes the value's key
        if path == "model":
            kwargs.pop("adapter")  # build_lm takes it off before the loader is called
        if path.startswith(JUDGE_NODES):  # alignrun.judges.roles.build_judge gives these
            params = inspect.signature(target).parameters
            kwargs |= {k: None for k in ("pairs", "value", "description") if k in params}
        inspect.signature(target).bind(**kwargs)  # raises TypeError on an unknown or missing key


def test_primary_config_has_no_method_by_default() -> None:
    cfg = compose([])
    assert cfg.method is None
    with pytest.raises(AlignrunError, match=r"\+method="):
        check_config(cfg)


def test_default_values_multiselect() -> None:
    assert list(compose(["+method=none"])["values"]) == ["helpful", "harmless", "honest"]
    assert list(compose(["+method=none", "values=[honest,helpful]"])["values"]) == ["honest", "helpful"]


def test_schema_rejects_wrong_types() -> None:
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException):
        compose(["+method=none", "seed=abc"])
    assert AlignrunSchema().seed == 0


def test_missing_required_key_is_reported() -> None:
    with pytest.raises(AlignrunError, match=r"model\.name"):
        check_config(compose(["+method=none", "model=hf"]))


def test_method_that_is_a_plain_string_is_rejected() -> None:
    # what `+method=x` becomes when no method group is on the search path (docs/architecture.md, "Layout")
    cfg = compose([])
    OmegaConf.update(cfg, "method", "mva")
    with pytest.raises(AlignrunError, match="not a method config"):
        check_config(cfg)


def test_every_yaml_opens_with_its_command() -> None:
    from pathlib import Path

    roots = [Path(__file__).resolve().parents[2] / d for d in ("conf", "plugins")]
    yamls = [p for root in roots for p in root.rglob("*.yaml")]
    assert yamls
    for path in yamls:
        lines = [ln for ln in path.read_text().splitlines() if not ln.startswith("# @package")]
        assert lines[0].startswith("# alignrun "), f"{path} should open with the command that runs it"


@pytest.mark.parametrize(("group", "method"), SHARED_USES, ids=[f"{m}-{g}" for g, m in SHARED_USES])
def test_shared_method_group_lands_at_its_key(group: str, method: str) -> None:
    cfg = compose([f"+method={method}"])
    choices = cfg.hydra.runtime.choices
    assert choices.get(f"method/{group}", choices.get(f"method/{group}@method")) == "default"
    shared, own = _shared(group), _own(method)
    composed = OmegaConf.to_container(cfg.method)
    assert isinstance(composed, dict)
    if group == "placebo":
        assert composed["placebo"] == shared["placebo"] and "placebo" not in own
        return
    node, overrides = composed[group], own.get(group) or {}
    assert isinstance(node, dict) and set(node) == set(shared) | set(overrides)
    for key, value in node.items():  # the method's own keys win over the shared default
        assert value == overrides.get(key, shared.get(key)), f"method.{group}.{key}"


SHARED_OPTIONS = [(g, o) for g in SHARED for o in installed_options(f"method/{g}")]


@pytest.mark.parametrize(("group", "option"), SHARED_OPTIONS, ids=[f"{g}={o}" for g, o in SHARED_OPTIONS])
def test_every_shared_option_composes_and_binds(group: str, option: str) -> None:
    # a method picks another option of a shared group with method/<group>=<option> (placebo@method)
    package = "@method" if group == "placebo" else ""
    cfg = compose([f"+method={SHARED[group][0]}", f"method/{group}{package}={option}"])
    assert cfg.hydra.runtime.choices.get(f"method/{group}{package}") == option
    node = cfg.method if group == "placebo" else cfg.method[group]
    if "_target_" in node:
        kwargs = {str(k): None for k in node if not str(k).startswith("_")}
        inspect.signature(get_object(node["_target_"])).bind(**kwargs)


def test_shared_groups_take_command_line_overrides() -> None:
    assert compose(["+method=dpo", "method.lora.r=16"]).method.lora.r == 16
    assert compose(["+method=rlhf", "method.train.lr=1e-3"]).method.train.lr == 1e-3
    cfg = compose(["+method=value_graph", "method.roles.held_out=2", "method.placebo=Think first."])
    assert cfg.method.roles.held_out == 2 and cfg.method.placebo == "Think first."


METHOD_FILES = sorted(PLUGINS.glob("alignrun_*/conf/method/*.yaml"))


def test_shared_table_lists_every_method_that_pulls_a_shared_group() -> None:
    # SHARED drives the tests below: a method missing from it would go unchecked
    assert len(METHOD_FILES) >= 10, f"found only {len(METHOD_FILES)} method configs under {PLUGINS}"
    pulled = {
        (str(key).split("@")[0], path.stem)
        for path in METHOD_FILES
        for entry in _own(path.stem).get("defaults", [])
        if isinstance(entry, dict)
        for key in entry
        if str(key).split("@")[0] in SHARED
    }
    assert pulled == set(SHARED_USES)


def test_no_method_config_restates_a_shared_default() -> None:
    # a method's file keeps only what differs from conf/method/<group>/default.yaml
    assert METHOD_FILES, f"no method configs under {PLUGINS}"
    for path in METHOD_FILES:
        own = _own(path.stem)
        for group in SHARED:
            shared = _shared(group)
            block = own if group == "placebo" else own.get(group)
            if not isinstance(block, dict):
                continue
            same = sorted(k for k, v in block.items() if k in shared and shared[k] == v)
            assert not same, f"{path.name} restates method.{group}'s {same}: conf/method/{group}/ has them"


# Each YAML node whose defaults Python needs too, and what reads them from there (alignrun.settings,
# "Defaults from conf/"): the file under conf/, its node (None: the whole file), the reader.
HOMES = [
    ("alignrun.yaml", None, "alignrun.schema:AlignrunSchema"),
    ("alignrun.yaml", "generation", "alignrun.schema:GenerationConfig"),
    ("alignrun.yaml", "derive", "alignrun.schema:DeriveSchema"),
    ("alignrun.yaml", "candidates", "alignrun.schema:CandidatesConfig"),
    ("alignrun.yaml", "results", "alignrun.schema:ResultsConfig"),
    ("judge/crossfit.yaml", None, "alignrun.schema:JudgeSchema"),
    ("method/lora/default.yaml", None, "alignrun.lib.training.adapters:LoraSettings"),
    ("method/loss/default.yaml", None, "alignrun.lib.training.losses:LossSettings"),
    ("method/train/default.yaml", None, "alignrun.lib.training.trainer:TrainSettings"),
    ("method/sampling/default.yaml", None, "alignrun.lib.measurement.sampling:Sampling"),
    ("method/roles/default.yaml", None, "alignrun.lib.roles:role_split"),
    ("method/placebo/default.yaml", None, "alignrun.interventions:PLACEBO"),
]
# keys a reader keeps a different default for on purpose (the reason stands beside the field)
OWN: dict[tuple[str, str | None], set[str]] = {("alignrun.yaml", "generation"): {"backend"}}


def _settings(path: str, node: str | None) -> dict[str, Any]:
    """The settings of a HOMES node: not Hydra's keys, not nested nodes (their own entries)."""
    data = OmegaConf.to_container(OmegaConf.load(CONF / path))
    assert isinstance(data, dict)
    block = data[node] if node else data
    return {
        str(k): v
        for k, v in block.items()
        if not str(k).startswith("_") and k not in ("defaults", "hydra") and not isinstance(v, dict)
    }


def test_every_settings_node_of_conf_has_its_reader_listed() -> None:
    # a new shared group under conf/method/, or a new node in alignrun.yaml, names its Python reader
    listed = {(path, node) for path, node, _ in HOMES}
    shared = {
        (f"method/{p.parent.name}/default.yaml", None) for p in (CONF / "method").glob("*/default.yaml")
    }
    whole = OmegaConf.to_container(OmegaConf.load(CONF / "alignrun.yaml"))
    assert isinstance(whole, dict)
    nodes = {("alignrun.yaml", str(k)) for k, v in whole.items() if k != "hydra" and isinstance(v, dict)}
    assert shared and nodes  # found some: a wrong glob must not pass
    assert shared | nodes <= listed, f"add {sorted((shared | nodes) - listed, key=str)} to HOMES"


def _literal_defaults(module: str, name: str) -> dict[str, Any]:
    """Read from the source, not imported: the literal defaults ``module``'s class or function ``name``
    (or constant: its value) states, by field or parameter."""
    import ast

    source = REPO / "core" / Path(*module.split(".")).with_suffix(".py")
    tree = ast.parse(source.read_text())
    found: dict[str, Any] = {}

    def literal(node: ast.expr | None) -> Any:
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "ranged" and node.args:
            node = node.args[0]  # ranged(<literal>, ge=...)
        try:
            return ast.literal_eval(node) if node is not None else ...
        except ValueError:
            return ...  # not a literal (from_yaml(), a name read from the YAML)

    for stmt in ast.walk(tree):
        if isinstance(stmt, ast.ClassDef) and stmt.name == name:
            for item in stmt.body:
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    found[item.target.id] = literal(item.value)
        elif isinstance(stmt, ast.FunctionDef) and stmt.name == name:
            args = stmt.args.args[len(stmt.args.args) - len(stmt.args.defaults) :]
            found |= {a.arg: literal(d) for a, d in zip(args, stmt.args.defaults, strict=True)}
        elif isinstance(stmt, ast.Assign | ast.AnnAssign):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                found[name] = literal(stmt.value)
    return {k: v for k, v in found.items() if v is not ...}


@pytest.mark.parametrize(("path", "node", "reader"), HOMES, ids=[r.split(":")[1] for *_, r in HOMES])
def test_no_python_default_restates_a_yaml_one(path: str, node: str | None, reader: str) -> None:
    # grep-able, from the source: the reader states no literal default for a key its YAML states
    module, name = reader.split(":")
    if name == "PLACEBO":  # a constant: no source file holds the sentence itself
        sentence = _settings(path, node)["placebo"]
        holders = [
            p for root in (REPO / "core", PLUGINS) for p in root.rglob("*.py") if sentence in p.read_text()
        ]
        assert not holders, f"{holders} restate conf/{path}'s placebo"
        return
    stated = {k for k, v in _settings(path, node).items() if not _unset(v)}  # not ${seed}, not ???
    twice = set(_literal_defaults(module, name)) & (stated - OWN.get((path, node), set()))
    assert not twice, f"{reader} restates conf/{path}'s {sorted(twice)}: declare them from_yaml()"


_READ_DEFAULTS = """
import dataclasses, importlib, importlib.util, inspect, json, sys

conf = sys.argv[1]  # a copy of conf/ stands in for the installed alignrun.conf
spec = importlib.util.spec_from_file_location(
    "alignrun.conf", conf + "/__init__.py", submodule_search_locations=[conf]
)
sys.modules["alignrun.conf"] = importlib.util.module_from_spec(spec)
out = {}
for reader in sys.argv[2:]:
    module, name = reader.split(":")
    obj = getattr(importlib.import_module(module), name)
    if name == "PLACEBO":
        out[reader] = {"placebo": obj}
    elif dataclasses.is_dataclass(obj):
        out[reader] = {
            f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()
            for f in dataclasses.fields(obj)
            if f.metadata.get("from_yaml")
        }
    else:
        params = inspect.signature(obj).parameters
        out[reader] = {k: p.default for k, p in params.items() if p.default is not p.empty}
print(json.dumps(out))
"""


def _unset(value: Any) -> bool:
    """An interpolation or ``???``: a value for the composed config, not a default Python could take."""
    return isinstance(value, str) and ("${" in value or value == "???")


def _changed(value: Any) -> Any:
    """Another value of the same type (interpolations, ??? and nulls are left as they are)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + (1 if isinstance(value, int) else 0.25)
    if isinstance(value, str) and not _unset(value):
        return value + " (changed)"
    if isinstance(value, list):
        return [*value, "changed"]
    return value


def test_a_changed_yaml_default_is_the_python_default(tmp_path: Path) -> None:
    # the proof that each default has one home: change every value in a copy of conf/, and Python's
    # defaults (the schema, the settings classes, role_split, PLACEBO) follow it
    import json
    import shutil
    import subprocess
    import sys

    from tests.conftest import scaled_timeout

    conf = tmp_path / "conf"
    shutil.copytree(CONF, conf)
    expected: dict[str, dict[str, Any]] = {}
    for path, node, reader in HOMES:
        data = OmegaConf.to_container(OmegaConf.load(conf / path))
        assert isinstance(data, dict)
        block = data[node] if node else data
        settings = _settings(path, node)
        block |= {k: _changed(v) for k, v in settings.items()}
        OmegaConf.save(OmegaConf.create(data), conf / path)
        own = OWN.get((path, node), set())
        expected[reader] = {k: block[k] for k in settings if k not in own}
    res = subprocess.run(
        [sys.executable, "-c", _READ_DEFAULTS, str(conf), *expected],
        capture_output=True,
        text=True,
        timeout=scaled_timeout(120),
        check=False,
    )
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout)
    for reader, want in expected.items():
        if reader.endswith(":role_split"):  # a function: only no_role (train, held_out: ???; seed: ${seed})
            assert got[reader]["no_role"] == want["no_role"] is False
            continue
        assert json.dumps(got[reader], sort_keys=True) == json.dumps(want, sort_keys=True), reader


def test_conf_is_read_as_hydra_reads_it() -> None:
    # yaml_defaults reads conf/ on libyaml's parser with OmegaConf's rules: the same values, types included
    import json

    from alignrun.settings import yaml_defaults

    files = sorted(CONF.rglob("*.yaml"))
    assert len(files) > 30
    for path in files:
        rel = path.relative_to(CONF).as_posix()
        want = OmegaConf.to_container(OmegaConf.load(path))
        assert json.dumps(yaml_defaults(rel)) == json.dumps(want), rel


def test_a_second_home_is_refused_when_the_class_is_defined() -> None:
    from alignrun.settings import defaults_from, from_yaml

    lora = "method/lora/default.yaml"

    def define(body: dict[str, Any], path: str = lora, **kw: Any) -> type:
        annotations = {k: "Any" for k in body}
        cls = type("Settings", (), {"__annotations__": annotations, **body})
        return dataclasses.dataclass(defaults_from(path, package="alignrun.conf", **kw)(cls))

    full = {"r": from_yaml(ge=1), "alpha": from_yaml(), "dropout": from_yaml(), "target_modules": from_yaml()}
    made = define(full)()
    assert (made.r, made.target_modules) == (8, ["q_proj", "k_proj", "v_proj", "o_proj"])
    assert define(full)().target_modules is not made.target_modules  # a fresh list each
    with pytest.raises(TypeError, match=r"Settings\.r keeps a default of its own"):
        define(full | {"r": 8})
    with pytest.raises(TypeError, match="equals"):
        define(full | {"r": 8}, own=("r",))
    assert define(full | {"r": 4}, own=("r",))().r == 4  # a different default, on purpose
    with pytest.raises(TypeError, match="sets 'target_modules', which Settings has no field for"):
        define({k: v for k, v in full.items() if k != "target_modules"})
    with pytest.raises(TypeError, match=r"gives '\?\?\?'"):
        define(
            {"train": from_yaml(), "held_out": from_yaml(), "no_role": from_yaml(), "seed": from_yaml()},
            "method/roles/default.yaml",
        )


def test_a_built_target_takes_its_parameters_defaults_from_its_node() -> None:
    # settings.signature_from: the class or function a node builds reads its defaults from that node
    import inspect

    from alignrun.settings import from_yaml, signature_from, yaml_defaults

    lora = "method/lora/default.yaml"  # r: 8, alpha: 16, dropout: 0.05, target_modules: [...]
    own = {"package": "alignrun.conf"}  # defined here, in tests/, whose package has no conf/

    @signature_from(lora, **own)
    def build(r: int = from_yaml(), *, alpha: int = from_yaml(), extra: int = 3) -> tuple[int, int, int]:
        return r, alpha, extra

    assert build() == (8, 16, 3) and build(r=2) == (2, 16, 3)
    assert (
        str(inspect.signature(build))
        == "(r: 'int' = 8, *, alpha: 'int' = 16, extra: 'int' = 3) -> 'tuple[int, int, int]'"
    )

    @signature_from(lora, **own)
    class Built:
        def __init__(self, alpha: float = from_yaml()) -> None:
            self.alpha = alpha

    assert Built().alpha == 16

    with pytest.raises(TypeError, match=r"twice\.r keeps a default of its own"):

        @signature_from(lora, **own)
        def twice(r: int = 8) -> None: ...

    @signature_from(lora, **own)
    def modules(target_modules: Sequence[str] = from_yaml()) -> Sequence[str]:
        return target_modules

    assert modules() == ("q_proj", "k_proj", "v_proj", "o_proj")  # a tuple: one default all calls share

    with pytest.raises(TypeError, match="gives a mapping, one every call would share"):

        @signature_from("alignrun.yaml", **own)
        def shared(generation: dict[str, Any] = from_yaml()) -> None: ...

    with pytest.raises(TypeError, match="has no 'rank'"):

        @signature_from(lora, **own)
        def absent(rank: int = from_yaml()) -> None: ...

    with pytest.raises(TypeError, match="bounds apply to dataclass fields only"):

        @signature_from(lora, **own)
        def bounded(r: int = from_yaml(ge=1)) -> None: ...

    with pytest.raises(TypeError, match="no __init__ of its own"):

        @signature_from(lora, **own)
        class Inherits(Built): ...

    # a plugin's method reads its own package's conf/: DPO() is what conf/method/dpo.yaml says
    from alignrun_dpo import DPO

    stated = yaml_defaults("method/dpo.yaml", package="alignrun_dpo.conf")
    params = inspect.signature(DPO).parameters
    assert {k: params[k].default for k in ("variant", "value", "beta", "soup_step", "merge")} == {
        k: stated[k] for k in ("variant", "value", "beta", "soup_step", "merge")
    }

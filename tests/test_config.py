"""Every config composes, and every ``_target_`` node's keys bind to its target's signature."""

from __future__ import annotations

import dataclasses
import inspect
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
REPO = Path(__file__).resolve().parents[1]
CONF, PLUGINS = REPO / "conf", REPO / "plugins"
# the shared groups under conf/method/ and the built-in methods that pull each in (at method.<group>)
SHARED = {
    "lora": ["dpo", "mva", "rlhf"],
    "train": ["dpo", "mva", "rlhf"],
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
    return ["+method=none", f"{group}={option}"]


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

    roots = [Path(__file__).resolve().parents[1] / d for d in ("conf", "plugins")]
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


def test_no_method_config_restates_a_shared_default() -> None:
    # a method's file keeps only what differs from conf/method/<group>/default.yaml
    for path in sorted(PLUGINS.glob("alignrun_*/conf/method/*.yaml")):
        own = _own(path.stem)
        for group in SHARED:
            shared = _shared(group)
            block = own if group == "placebo" else own.get(group)
            if not isinstance(block, dict):
                continue
            same = sorted(k for k, v in block.items() if k in shared and shared[k] == v)
            assert not same, f"{path.name} restates method.{group}'s {same}: conf/method/{group}/ has them"


def test_dataclass_defaults_match_the_shared_groups() -> None:
    # The YAML groups are what --help shows and runs record; the dataclasses keep defaults for direct
    # Python use (tests, bench/). This pins the two so they cannot drift apart silently.
    from alignrun.interventions import PLACEBO
    from alignrun.lib.measurement.sampling import Sampling
    from alignrun.lib.roles import role_split
    from alignrun.lib.training.adapters import LoraSettings
    from alignrun.lib.training.losses import LossSettings
    from alignrun.lib.training.trainer import TrainSettings

    assert dataclasses.asdict(LoraSettings()) == _shared("lora")
    assert dataclasses.asdict(LossSettings()) == _shared("loss")
    train = dataclasses.asdict(TrainSettings())
    assert {k: v for k, v in train.items() if k != "steps"} == _shared("train")  # steps: each method's own
    sampling = _shared("sampling")
    assert sampling.pop("_target_") == f"{Sampling.__module__}.{Sampling.__qualname__}"
    assert dataclasses.asdict(Sampling()) == sampling
    roles = _shared("roles")
    params = inspect.signature(role_split).parameters
    assert roles.pop("_target_") == f"{role_split.__module__}.{role_split.__qualname__}"
    assert set(roles) == set(params) and params["no_role"].default == roles["no_role"]
    assert _shared("placebo")["placebo"] == PLACEBO

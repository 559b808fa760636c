"""Every config composes, and every ``_target_`` node's keys bind to its target's signature."""

from __future__ import annotations

import inspect
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

GROUPS = ["method", "model", "values", "data", "steering", "loggers", "experiment"]
OPTIONS = [(g, o) for g in GROUPS for o in installed_options(g)]


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
    # what `+method=x` becomes when no method group is on the search path (DESIGN.md §2)
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

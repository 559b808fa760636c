"""Roles and prompt steering interventions: seeded, disjoint, and composable with any model."""

from __future__ import annotations

import pytest

from alignrun import AlignrunError, Intervention
from alignrun.interventions import SystemPrompt, join_system, value_prompt_text
from alignrun.lib.roles import NO_ROLE, Role, make_roles, role_split
from alignrun.models.tiny import build_tiny
from alignrun.profile import ValueProfiler
from alignrun.profile.schwartz import schwartz_values
from alignrun.schema import GenerationConfig
from alignrun.value_prompt import ValuePrompt


def test_roles_are_seeded_distinct_and_split_disjointly() -> None:
    train, held = make_roles(12, "train", seed=3), make_roles(12, "held_out", seed=3)
    assert [r.text for r in train] == [r.text for r in make_roles(12, "train", seed=3)]
    assert [r.text for r in train] != [r.text for r in make_roles(12, "train", seed=4)]
    for group in (train, held):
        assert len({r.text for r in group}) == len({r.attributes["job"] for r in group}) == 12
    assert not {r.attributes["job"] for r in train} & {r.attributes["job"] for r in held}
    assert not {r.attributes["name"] for r in train} & {r.attributes["name"] for r in held}
    role = train[0]
    assert role.text is not None and role.text.startswith(f"You are {role.attributes['name']}, a ")
    assert role.attributes["job"] in role.text and role.attributes["personality"] in role.text
    split = role_split(3, 2, no_role=True, seed=0)
    assert split.train[0] is NO_ROLE and len(split.train) == 4 and len(split.held_out) == 2
    assert role_split(3, 0, no_role=False).train[0] is not NO_ROLE


def test_role_errors() -> None:
    with pytest.raises(AlignrunError, match="train roles must number"):
        make_roles(100, "train")
    with pytest.raises(AlignrunError, match="split"):
        make_roles(1, "validation")


def test_prompt_interventions_stack_and_restore() -> None:
    lm = build_tiny()
    role = make_roles(1, "train")[0]
    steer = SystemPrompt("Be brief.")
    assert isinstance(role, Intervention) and isinstance(steer, Intervention)
    with role.apply(lm), steer.apply(lm):
        assert lm.system_prompt == f"{role.text} Be brief."
    assert lm.system_prompt is None
    with pytest.raises(RuntimeError), role.apply(lm):
        raise RuntimeError("the body failed")
    assert lm.system_prompt is None  # removed also when the body raises
    with NO_ROLE.apply(lm):
        assert lm.system_prompt is None
    assert join_system(None, " ", "a", "b ") == "a b"


def test_per_prompt_roles_equal_applying_each_role() -> None:
    """Batching roles as per-prompt system texts is the same as steering with each Role in turn."""
    lm = build_tiny()
    roles = [NO_ROLE, *make_roles(2, "held_out")]
    steer = ValuePrompt("power", "up")
    prompts = ["Should I help a friend move? Answer with yes or no.", "What would you do with a free day?"]
    cfg = GenerationConfig(max_new_tokens=6, batch_size=8, progress=False)
    with steer.apply(lm) as steered:
        batched = steered.generate(prompts * 3, cfg, systems=[r.text for r in roles for _ in prompts])
        chats = steered.chat(prompts * 3, [r.text for r in roles for _ in prompts])
    one_by_one, chats_one = [], []
    for role in roles:
        with role.apply(lm), steer.apply(lm):
            one_by_one += lm.generate(prompts, cfg)
            chats_one += lm.chat(prompts)
    assert chats == chats_one and batched == one_by_one
    profiler = ValueProfiler("logprob", schwartz_values(["power", "benevolence"]))
    many = profiler.measure_many(lm, [r.text for r in roles])
    for role, result in zip(roles, many, strict=True):
        with role.apply(lm):
            assert profiler.measure(lm).scores == pytest.approx(result.scores, abs=1e-5)


def test_value_prompt() -> None:
    values = schwartz_values()
    up = ValuePrompt("benevolence", "up")
    assert up.text == value_prompt_text(values["benevolence"], "up")
    assert (
        up.text.startswith("You value benevolence, which means: ")
        and values["benevolence"].description in up.text
    )
    assert ValuePrompt("self_direction", "down").text.startswith("You place no value on self-direction")
    custom = ValuePrompt("power", "up", template="Think like someone who loves {label}.")
    assert custom.text == "Think like someone who loves power." and custom.name == "up:power"
    with pytest.raises(AlignrunError, match=r"steering\.target 'kindness'.*benevolence"):
        ValuePrompt("kindness")
    with pytest.raises(AlignrunError, match="up or down"):
        ValuePrompt("power", "sideways")
    assert isinstance(Role("x", "You are x."), Intervention)

"""``+method=prompt_steering`` on the tiny model: search, held-out shifts, side effects, co-change."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from alignrun import hookimpl
from alignrun.config import compose
from alignrun.lib.graphs import Edge, ValueGraph
from alignrun.lm import LM
from alignrun.loop import run_job
from alignrun.plugins import get_plugin_manager
from alignrun.profile.schwartz import SCHWARTZ_VALUES
from tests.conftest import SMOKE, assert_one_line_run_error, run_cli

SMALL = [
    "method.roles.train=2",
    "method.roles.held_out=3",
    "method.sampling.mode=logprob",
    "method.role_prompts=[a priest,a soldier]",
]


@pytest.mark.slow
def test_prompt_steering_cli_reports_shift_side_effects_and_cochange(tmp_path: Path) -> None:
    args = ["+method=prompt_steering", "steering.target=benevolence", *SMOKE, *SMALL, "hydra.run.dir=run"]
    res = run_cli(*args, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    out = tmp_path / "run"
    result = json.loads((out / "steering.json").read_text())
    assert result["target"] == "benevolence" and result["direction"] == "up"
    assert set(result["search"]) == {"value:0", "value:1", "value:2", "role:a priest", "role:a soldier"}
    assert result["search"][result["chosen"]] == max(result["search"].values())
    assert len(result["target_shift"]["per_role"]) == result["roles"] == 3
    low, high = result["target_shift"]["ci95"]
    assert low <= result["target_shift"]["mean"] <= high
    assert set(result["side_effects"]) == set(SCHWARTZ_VALUES)
    assert set(result["cochange"]) == {"graph", "reference"}
    assert result["graph"] == "learnt from the search samples" and (out / "graph.json").is_file()
    metrics = json.loads((out / "results.json").read_text())["metrics"]
    assert metrics["steering/target_shift"] == result["target_shift"]["mean"]
    assert {f"steering/side_effect/{v}" for v in SCHWARTZ_VALUES if v != "benevolence"} <= set(metrics)
    report = (out / "steering.md").read_text()
    assert "Target shift" in report and "| graph | expected co-change |" in report
    assert (out / "samples.csv").read_text().count("\n") == 1 + 3 * 6 + 3 * 3  # header, search, held-out


@pytest.mark.slow
def test_chosen_prompt_replaces_steering_in_the_final_evaluation(tmp_path: Path) -> None:
    seen: list[str | None] = []

    class Spy:
        @hookimpl
        def alignrun_generate(self, run: Any, lm: LM, prompts: list[str]) -> list[str]:
            seen.append(lm.system_prompt)
            return ["ok"] * len(prompts)

    pm = get_plugin_manager()
    pm.register(Spy())
    cfg = compose(
        ["+method=prompt_steering", "steering.target=power", "steering.direction=down", *SMOKE, *SMALL]
    )
    run_job(cfg, tmp_path, pm)
    result = json.loads((tmp_path / "steering.json").read_text())
    # the base model before the method (unsteered), then the chosen prompt alone, not on top of
    # steering.target's
    assert seen == [None, result["chosen_text"]]
    applied = json.loads((tmp_path / "results.json").read_text())["applied"]
    assert len(applied) == 1  # only the method's own: steering= is replaced, not stacked
    (only,) = applied
    assert only["by"] == "method" and only["replaces_steering"] is True
    assert only["text"] == result["chosen_text"]  # whichever candidate won (a role or a value phrasing)


@pytest.mark.slow
def test_a_given_graph_predicts_the_side_effects(tmp_path: Path) -> None:
    graph = ValueGraph(list(SCHWARTZ_VALUES), [Edge("benevolence", "universalism", "directed", 1)])
    (tmp_path / "g").mkdir()
    (tmp_path / "g" / "graph.json").write_text(json.dumps(graph.to_dict()))
    overrides = ["+method=prompt_steering", "steering.target=benevolence", *SMOKE, *SMALL]
    cfg = compose([*overrides, f"method.graph={tmp_path / 'g'}"])
    run_job(cfg, tmp_path / "run")
    result = json.loads((tmp_path / "run" / "steering.json").read_text())
    assert [v for v, row in result["side_effects"].items() if row["graph_expected"]] == ["universalism"]
    assert result["cochange"]["graph"]["n_expected"] == 3  # one value × three held-out roles
    assert not (tmp_path / "run" / "graph.json").exists()  # nothing learnt here


def test_the_default_target_is_the_runs_first_value() -> None:
    from alignrun.config import compose

    assert compose(["+method=prompt_steering", "values=[harmless,helpful]"]).steering.target == "harmless"
    assert compose(["+method=prompt_steering", "steering.target=power"]).steering.target == "power"


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("steering.target=kindness", "steering.target 'kindness' is not a value"),
        ("steering=system_prompt", "searches from steering=value_prompt"),
        ("method.graph=/nonexistent/run", "no value graph at"),
    ],
)
def test_bad_settings_are_one_line(tmp_path: Path, override: str, needle: str) -> None:
    target = [] if override.startswith("steering") else ["steering.target=benevolence"]
    extra = [override]
    if override == "steering=system_prompt":
        extra.append("steering.text=hello")
    args = ["+method=prompt_steering", *target, *extra, *SMOKE, *SMALL]
    assert_one_line_run_error(args, needle, tmp_path / "run")


@pytest.mark.packaged_model
@pytest.mark.slow
def test_prompt_steering_on_the_packaged_model(tmp_path: Path) -> None:
    """The whole method on SmolLM2 (its chat template, real answers), at a budget of about a minute."""
    budget = [
        "method.roles.train=1",
        "method.roles.held_out=2",
        "method.sampling.mode=behavioural",
        "method.sampling.scenarios=2",
        "method.sampling.max_new_tokens=16",
        "method.eval_scenarios=2",
        "method.role_prompts=[a priest]",
        "data.max_eval_prompts=2",
        "generation.max_new_tokens=16",
        "profile=none",
        "loggers=[]",
    ]
    args = ["+method=prompt_steering", "steering.target=tradition", *budget, "hydra.run.dir=run"]
    res = run_cli(*args, "generation.progress=false", cwd=tmp_path, timeout=900)
    assert res.returncode == 0, res.stderr[-2000:]
    result = json.loads((tmp_path / "run" / "steering.json").read_text())
    assert result["mode"] == "behavioural" and len(result["search"]) == 4
    answers = (tmp_path / "run" / "sample_answers.jsonl").read_text()
    assert '"answer": ""' not in answers  # the real model answers every scenario
    assert json.loads((tmp_path / "run" / "results.json").read_text())["model"] == "SmolLM2-135M-Instruct"

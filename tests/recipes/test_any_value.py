"""Any value, any method: a value defined in YAML alone (the example plugin's ``thrift``) runs with
every built-in method on the tiny model, and steering targets values outside the profiled system."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import SMOKE, assert_one_line_run_error, empty_cache, run_cli, tiny_train
from tests.recipes.test_rlhf import TINY as RLHF_TINY
from tests.recipes.test_sae_steering import SMALL as SAE_SMALL

TRAIN = [
    *tiny_train(2),
]
DERIVE = ["derive.prompts=4", "derive.samples=1", "derive.max_new_tokens=12"]
STEER = ["method.roles.train=2", "method.roles.held_out=2", "method.sampling.mode=logprob",
         "method.sampling.items=2", "method.sampling.scenarios=2", "method.eval_scenarios=2"]  # fmt: skip
CASES = {
    "none": ["+method=none", "values=[thrift]"],
    "dpo": ["+method=dpo", "values=[thrift]", *TRAIN],
    "mva": [
        "+method=mva",
        "values=[thrift,benevolence]",
        *TRAIN,
        "method.extrapolation.sampler=grid",
        "method.extrapolation.points=2",
    ],
    "prompt_steering": [
        "+method=prompt_steering",
        "steering.target=thrift",
        "values=[thrift]",
        *STEER,
        "method.role_prompts=[a priest]",
    ],
    "sae_steering": [
        "+method=sae_steering",
        "steering.target=thrift",
        "values=[thrift]",
        *SAE_SMALL,
        "method.sampling.scenarios=2",
    ],
}


@pytest.mark.slow
@pytest.mark.parametrize("method", list(CASES))
def test_a_yaml_only_value_runs_with_every_method(method: str, tmp_path: Path) -> None:
    args = [*CASES[method], *SMOKE, *DERIVE, "hydra.run.dir=run"]
    res = run_cli(*args, cwd=tmp_path, env={"ALIGNRUN_CACHE": empty_cache(tmp_path / "cache")})
    assert res.returncode == 0, res.stderr[-2500:]
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert "thrift" in results["scores"] and results["method"] == method
    derived = results["derived"]["thrift"]
    assert derived["scorer"] == {"derived": True, "from": "exemplars"}
    assert "eval_prompts" not in derived  # it has its own
    verdict = results["verdicts"]["thrift"]
    assert verdict["evaluator"]["kind"] == "exemplars" and verdict["evaluator"]["exemplars"] == 3
    if method in ("dpo", "mva"):  # trained on pairs derived on-policy, judged by the other exemplar half
        pairs = derived["pairs"]
        assert pairs["model"].startswith("tiny-llama") and pairs["pairs"] >= 1 and pairs["prompts"] == 4
        assert pairs["judge_agreement"]["on"] == "held-out exemplars vs counter-exemplars"
        assert verdict["judge"]["exemplars_sha"] != verdict["evaluator"]["exemplars_sha"]
        assert verdict["circular"] is False
        assert "trained by an exemplar classifier" in (tmp_path / "run" / "report.md").read_text()
    elif method.endswith("steering"):  # the search is judged by the exemplar half the evaluator lacks
        assert "pairs" not in derived and derived["search"] is True
        assert verdict["judge"]["exemplars_sha"] != verdict["evaluator"]["exemplars_sha"]
        assert verdict["circular"] is False
    else:
        assert "pairs" not in derived and verdict["judge"] is None
    if method.endswith("steering"):
        steering = json.loads((tmp_path / "run" / "steering.json").read_text())
        assert (
            steering["target"] == "thrift"
            and steering["target_measure"] == "its trainer judge on its own prompts"
        )
        assert "thrift" in steering["side_effects"]


@pytest.mark.slow
def test_rlhf_rewards_with_the_judge_and_evaluates_with_the_other_half(tmp_path: Path) -> None:
    args = ["+method=rlhf", "values=[thrift]", *RLHF_TINY, "loggers=[]", "hydra.run.dir=run"]
    res = run_cli(*args, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2500:]
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    verdict = results["verdicts"]["thrift"]
    assert verdict["judge"]["role"] == "judge" and verdict["evaluator"]["role"] == "evaluator"
    assert verdict["circular"] is False and results["derived"]["thrift"]["reward"] is True


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["steering.target=kindness"], "steering.target 'kindness' is not a value alignrun knows"),
        (["steering.target=harmless", "values=[helpful]"], "add it, e.g. values=[harmless]"),
    ],
)
def test_steering_targets_outside_the_run_are_one_line_errors(
    tmp_path: Path, args: list[str], needle: str
) -> None:
    assert_one_line_run_error(["+method=prompt_steering", *args, *SMOKE, *STEER], needle, tmp_path / "run")


def test_your_own_pairs_file_with_renamed_columns(tmp_path: Path) -> None:
    from alignrun.data.loaders import preference_pairs
    from alignrun.errors import AlignrunError

    rows = [{"q": "How do I fix a leak?", "good": "Turn off the water first, then...", "bad": "No idea."},
            {"q": "Empty?", "good": "", "bad": "x"}, {"q": "Same?", "good": "y", "bad": "y"}]  # fmt: skip
    path = tmp_path / "mine.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    pairs = preference_pairs(str(path), prompt_column="q", chosen_column="good", rejected_column="bad")
    assert pairs.column_names == ["prompt", "chosen", "rejected"] and pairs["prompt"] == [
        "How do I fix a leak?"
    ]
    with pytest.raises(
        AlignrunError,
        match=r"lacks column\(s\) prompt.*expected one row per pair with columns prompt, chosen, rejected",
    ):
        preference_pairs(str(path))


@pytest.mark.slow
def test_dpo_trains_on_your_own_pairs_with_no_derivation(tmp_path: Path) -> None:
    path = tmp_path / "mine.csv"
    path.write_text(
        "prompt,chosen,rejected\n" + "".join(f"Question {i}?,A careful answer {i}.,No.\n" for i in range(6))
    )
    args = [
        "+method=dpo",
        "values=[thrift]",
        f"+data.sources.thrift.path={path}",
        *SMOKE,
        *TRAIN,
        "hydra.run.dir=run",
    ]
    res = run_cli(*args, cwd=tmp_path, env={"ALIGNRUN_CACHE": empty_cache(tmp_path / "cache")})
    assert res.returncode == 0, res.stderr[-2500:]
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert "pairs" not in results["derived"]["thrift"] and results["verdicts"]["thrift"]["judge"] is None
    assert not (tmp_path / "cache" / "derived").exists()
    bad = [*args[:2], f"+data.sources.thrift.path={tmp_path / 'none.jsonl'}", *SMOKE]
    assert_one_line_run_error(bad, "no such file or folder", tmp_path / "bad")


@pytest.mark.slow
def test_value_graph_over_any_values(tmp_path: Path) -> None:
    import csv

    from tests.recipes.test_value_graph import SMALL as GRAPH_SMALL

    graph = [a for a in GRAPH_SMALL if not a.startswith("method.targets")]
    args = ["+method=value_graph", "method.values=[thrift,benevolence,power]", *SMOKE, *graph,
            "method.sampling.mode=behavioural", "hydra.run.dir=run"]  # fmt: skip
    res = run_cli(*args, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2500:]
    with (tmp_path / "run" / "samples.csv").open() as f:
        assert list(next(csv.DictReader(f))) == ["setting", "role", "split", "thrift", "benevolence", "power"]
    nodes = json.loads((tmp_path / "run" / "graph.json").read_text())["nodes"]
    assert nodes == ["thrift", "benevolence", "power"]
    bad = ["+method=value_graph", "method.values=[thrift]", *SMOKE]
    assert_one_line_run_error(bad, "at least two values", tmp_path / "bad")


def test_a_loaded_value_system_is_values_of_the_run(tmp_path: Path) -> None:
    from alignrun.config import compose
    from alignrun.loop import build_values
    from tests.unit.data.test_loaders import VB_HEADER, VB_ROWS, _write_csv

    csv_file = _write_csv(tmp_path / "value_orientation.csv", VB_HEADER, VB_ROWS)
    cfg = compose(["+method=none", "values=[valuebench,harmless]", f"values.valuebench.path={csv_file}",
                   "values.valuebench.min_items=1"])  # fmt: skip
    values = build_values(cfg)
    assert list(values) == ["self_direction", "benevolence", "need_for_closure", "harmless"]
    from alignrun.derive import Derivation, DeriveConfig

    derivation = Derivation(DeriveConfig(), seed=0)
    values = derivation.prepare(values)
    assert derivation.record["benevolence"]["scorer"]["from"] == "questionnaire items"
    assert (
        values["self_direction"].scorer is not None and len(values["self_direction"].eval_prompts or []) == 12
    )
    from alignrun.config import check_config
    from alignrun.errors import AlignrunError

    with pytest.raises(AlignrunError, match=r"values\.valuebench\.path"):
        check_config(compose(["+method=none", "values=[valuebench]"]))

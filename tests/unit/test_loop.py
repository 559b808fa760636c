"""The core loop, in process: hook order, results contract, steering, failure paths."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from omegaconf import DictConfig

from alignrun import AlignrunError, MethodResult, Run, hookimpl
from alignrun.instantiate import build
from alignrun.judges.crossfit import split_pairs
from alignrun.lm import LM
from alignrun.loop import run_job
from alignrun.plugins import get_plugin_manager
from alignrun.results import RESULT_KEYS
from tests.conftest import assert_one_line_run_error


class Recorder:
    """A plugin that records every hook call (and answers none)."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.finish: dict[str, Any] = {}

    @hookimpl
    def alignrun_configure(self, config: DictConfig) -> None:
        self.calls.append("configure")

    @hookimpl
    def alignrun_run_start(self, run: Run) -> None:
        self.calls.append("run_start")

    @hookimpl
    def alignrun_generate(self, run: Run, lm: LM, prompts: list[str]) -> None:
        self.calls.append("generate")

    @hookimpl
    def alignrun_evaluate(self, run: Run, lm: LM, generations: dict[str, Any]) -> dict[str, float]:
        self.calls.append("evaluate")
        return {"recorder/num_values": float(len(generations))}

    @hookimpl
    def alignrun_log(self, run: Run, metrics: dict[str, float], step: int | None) -> None:
        self.calls.append("log")

    @hookimpl
    def alignrun_run_finish(
        self, run: Run | None, results: dict[str, Any] | None, error: BaseException | None
    ) -> None:
        self.calls.append("run_finish")
        self.finish = {"run": run, "results": results, "error": error}


def _pm_with(*plugins: object) -> Any:
    pm = get_plugin_manager()
    for p in plugins:
        pm.register(p)
    return pm


def test_results_contract_and_hook_order(smoke_cfg: DictConfig, tmp_path: Path) -> None:
    rec = Recorder()
    results = run_job(smoke_cfg, tmp_path, _pm_with(rec))
    assert rec.calls == ["configure", "run_start", "generate", "evaluate", "log", "run_finish"]
    on_disk = json.loads((tmp_path / "results.json").read_text())
    assert on_disk == results
    assert tuple(on_disk) == RESULT_KEYS
    assert on_disk["method"] == "none"
    assert on_disk["values"] == ["helpful", "harmless", "honest"]
    assert set(on_disk["scores"]) == set(on_disk["values"])
    assert all(isinstance(v, float) for v in on_disk["scores"].values())
    assert on_disk["metrics"]["recorder/num_values"] == 3.0
    assert on_disk["candidates"] == [] and on_disk["hypervolume"] is None
    assert {"build", "method", "evaluate", "total"} <= set(on_disk["timings"])
    assert "| helpful |" in (tmp_path / "report.md").read_text()
    assert rec.finish["error"] is None and rec.finish["results"] == results


def test_generate_hook_replaces_default_and_scores_follow(smoke_cfg: DictConfig, tmp_path: Path) -> None:
    class Refuser:
        @hookimpl
        def alignrun_generate(self, run: Run, lm: LM, prompts: list[str]) -> list[str]:
            return ["I can't help with that." for _ in prompts]

    results = run_job(smoke_cfg, tmp_path, _pm_with(Refuser()))
    rows = [json.loads(line) for line in (tmp_path / "samples.jsonl").read_text().splitlines()]
    assert rows and {r["answer"] for r in rows} == {"I can't help with that."}
    assert results["scores"]["helpful"] < 0  # a refusal is unhelpful
    for value in ("helpful", "harmless"):
        mine = [r for r in rows if r["value"] == value]
        own = build(smoke_cfg["values"][value]["scorer"], _convert_="all")
        scorer = own.with_pairs(split_pairs(own.pairs, seed=0, fraction=0.5).judge)  # cross-fitted
        expected = scorer.score(  # the scores are the value's evaluator on the hook's answers
            [r["prompt"] for r in mine], [r["answer"] for r in mine]
        )
        assert results["scores"][value] == pytest.approx(sum(expected) / len(expected))


def test_steering_applied_during_generation_only(smoke_cfg: DictConfig, tmp_path: Path) -> None:
    seen: list[str | None] = []

    class Spy:
        @hookimpl
        def alignrun_generate(self, run: Run, lm: LM, prompts: list[str]) -> list[str]:
            seen.append(lm.system_prompt)
            self.lm = lm
            return ["ok"] * len(prompts)

    smoke_cfg.steering = {"_target_": "alignrun.interventions.SystemPrompt", "text": "Be kind."}
    spy = Spy()
    run_job(smoke_cfg, tmp_path, _pm_with(spy))
    assert seen == [None, "Be kind."]  # the base model (before/after comparison) unsteered, then steered
    assert spy.lm.system_prompt is None  # removed on exit


ORDER: list[str] = []


class Tag:
    """An intervention that records when it is entered (+name) and left (-name)."""

    def __init__(self, name: str) -> None:
        self.name = name

    @contextmanager
    def apply(self, lm: LM) -> Iterator[LM]:
        ORDER.append(f"+{self.name}")
        try:
            yield lm
        finally:
            ORDER.append(f"-{self.name}")


def test_method_intervention_composes_with_steering(smoke_cfg: DictConfig, tmp_path: Path) -> None:
    class Steerer:
        @hookimpl
        def alignrun_run_method(self, run: Run, method: Any) -> MethodResult:
            return MethodResult(lm=run.lm, intervention=Tag("method"))

    ORDER.clear()
    smoke_cfg.steering = {"_target_": f"{__name__}.Tag", "name": "steering"}
    results = run_job(smoke_cfg, tmp_path, _pm_with(Steerer()))
    # the base model is measured unsteered; the final evaluation enters steering=, then the
    # method's intervention inside it, and leaves them in reverse
    assert ORDER == ["+steering", "+method", "-method", "-steering"]
    assert [(a["by"], a["name"]) for a in results["applied"]] == [
        ("steering", "steering"),
        ("method", "method"),
    ]


def test_a_method_returning_a_new_lm_gets_that_lm_evaluated(smoke_cfg: DictConfig, tmp_path: Path) -> None:
    from alignrun.models.tiny import build_tiny

    other = build_tiny(seed=1)
    other.name = "tiny-other"
    seen: list[str] = []

    class Replacer:
        @hookimpl
        def alignrun_run_method(self, run: Run, method: Any) -> MethodResult:
            return MethodResult(lm=other)

        @hookimpl
        def alignrun_generate(self, run: Run, lm: LM, prompts: list[str]) -> None:
            seen.append(lm.name)

    smoke_cfg.steering = {"_target_": "alignrun.interventions.SystemPrompt", "text": "Be kind."}
    results = run_job(smoke_cfg, tmp_path, _pm_with(Replacer()))
    assert seen[1:] == ["tiny-other"] and seen[0] != "tiny-other"  # the base model, then the returned one
    assert results["model"] == "tiny-other"
    assert other.system_prompt is None  # steering= was applied to it, and removed


def test_duplicate_metric_key_is_an_error(smoke_cfg: DictConfig, tmp_path: Path) -> None:
    class Dup:
        @hookimpl
        def alignrun_evaluate(self, run: Run, lm: LM, generations: dict[str, Any]) -> dict[str, float]:
            return {"score/helpful": 0.0}

    rec = Recorder()
    with pytest.raises(AlignrunError, match="score/helpful"):
        run_job(smoke_cfg, tmp_path, _pm_with(Dup(), rec))
    assert isinstance(rec.finish["error"], AlignrunError)
    assert not (tmp_path / "results.json").exists()  # nothing half-written


def test_run_finish_called_when_method_fails(smoke_cfg: DictConfig, tmp_path: Path) -> None:
    class Boom:
        @hookimpl
        def alignrun_run_method(self, run: Run, method: Any) -> MethodResult:
            raise RuntimeError("boom")

    rec = Recorder()
    with pytest.raises(RuntimeError, match="boom"):
        run_job(smoke_cfg, tmp_path, _pm_with(Boom(), rec))
    assert rec.calls[-1] == "run_finish"
    assert isinstance(rec.finish["run"], Run)
    assert not (tmp_path / "results.json").exists()


def test_run_finish_called_when_build_fails(smoke_cfg: DictConfig, tmp_path: Path) -> None:
    smoke_cfg.data.sources = {"helpful": {"_target_": "alignrun.data.bundled.pairs", "name": "nope"}}
    rec = Recorder()
    with pytest.raises(AlignrunError, match="nope"):
        run_job(smoke_cfg, tmp_path, _pm_with(rec))
    assert rec.finish["run"] is None and isinstance(rec.finish["error"], AlignrunError)


def test_method_must_return_method_result(smoke_cfg: DictConfig, tmp_path: Path) -> None:
    class Wrong:
        @hookimpl
        def alignrun_run_method(self, run: Run, method: Any) -> str:
            return "done"

    with pytest.raises(AlignrunError, match="MethodResult"):
        run_job(smoke_cfg, tmp_path, _pm_with(Wrong()))


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["+method=none", "model=hf"], "missing required setting: model.name"),
        (["+method=none", "steering=system_prompt"], "steering.text"),
        (["+method=none", "values=[]"], "no values chosen"),
    ],
)
def test_a_config_that_cannot_run_is_one_line_and_leaves_no_run_dir(
    tmp_path: Path, args: list[str], needle: str
) -> None:
    # composes, then check_config refuses it: run_job's first step, before it makes the run dir
    assert_one_line_run_error(args, needle, tmp_path / "D")
    assert not list(tmp_path.iterdir())


def test_candidates_get_pareto_flags_and_hypervolume(smoke_cfg: DictConfig, tmp_path: Path) -> None:
    from alignrun import Candidate

    class Soup:
        @hookimpl
        def alignrun_run_method(self, run: Run, method: Any) -> MethodResult:
            names = list(run.values)
            cands = [
                Candidate(weights={n: w for n in names}, scores={n: w for n in names}) for w in (0.0, 0.5)
            ]
            return MethodResult(lm=run.lm, candidates=cands)

    results = run_job(smoke_cfg, tmp_path, _pm_with(Soup()))
    assert [c["pareto"] for c in results["candidates"]] == [False, True]
    assert results["hypervolume"] == pytest.approx(1.5**3)  # reference -1 in each of 3 values
    assert "reference point: -1.0" in (tmp_path / "report.md").read_text()


def test_jsonl_logger_writes_metrics(tmp_path: Path) -> None:
    from tests.conftest import compose

    cfg = compose(["+method=none", "experiment=smoke", "loggers=[jsonl]"])
    run_job(cfg, tmp_path)
    lines = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert lines and set(lines[-1]) == {"step", "eval/helpful", "eval/harmless", "eval/honest"}


def test_evaluate_can_skip_the_profile(tmp_path: Path) -> None:
    from alignrun.evaluation import evaluate
    from alignrun.loop import build_run
    from tests.conftest import compose

    cfg = compose(["+method=none", "experiment=smoke", "loggers=[]", "profile=self_report"])
    run = build_run(cfg, tmp_path, get_plugin_manager())
    assert evaluate(run, run.lm).value_profile is not None
    assert evaluate(run, run.lm, profile=False).value_profile is None
    assert run.profiler is not None  # the run's own profiler is untouched: the hook was told not to profile

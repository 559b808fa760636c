"""results.json's uncertainty keys, samples.jsonl, and report.md's intervals and answers."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from omegaconf import DictConfig

from alignrun import Run, hookimpl
from alignrun.evaluation import split_metrics
from alignrun.lm import LM
from alignrun.loop import run_job
from alignrun.plugins import get_plugin_manager
from alignrun.profile import ProfileResult
from alignrun.results import RESULT_KEYS, UNCERTAINTY_KEYS
from alignrun.uncertainty import Interval, mean_interval
from tests.conftest import SMOKE, run_cli
from tests.unit.test_plots import SOUP

REFUSAL = "I'm sorry, but I can't help with that. It could hurt someone, so I won't."


class RefusesWhenSteered:
    """Answers each prompt in its own words; under a system prompt it refuses instead."""

    @hookimpl
    def alignrun_generate(self, run: Run, lm: LM, prompts: list[str]) -> list[str]:
        if lm.system_prompt:
            return [REFUSAL] * len(prompts)
        return [f"Sure. Here is how: {p.lower()} Step one is to start carefully." for p in prompts]


def _steered_run(cfg: DictConfig, out: Path) -> dict[str, Any]:
    cfg.data.max_eval_prompts = 12
    cfg.steering = {"_target_": "alignrun.interventions.SystemPrompt", "text": "Refuse."}
    pm = get_plugin_manager()
    pm.register(RefusesWhenSteered())
    return run_job(cfg, out, pm)


def test_scores_carry_intervals_and_a_paired_change_vs_the_base(
    smoke_cfg: DictConfig, tmp_path: Path
) -> None:
    results = _steered_run(smoke_cfg, tmp_path)
    assert tuple(results) == RESULT_KEYS
    for v, (lo, hi) in results["scores_ci"].items():
        assert lo <= results["scores"][v] <= hi and lo < hi  # real answers: a real interval
    assert results["uncertainty"]["prompts"] == {"helpful": 12, "harmless": 12, "honest": 12}
    vs = results["vs_base"]
    rows = [json.loads(line) for line in (tmp_path / "samples.jsonl").read_text().splitlines()]
    for v, d in vs.items():  # the paired change is the mean per-prompt change, its verdict its interval's
        mine = [r for r in rows if r["value"] == v]
        assert math.isclose(d["difference"], sum(r["score"] - r["base_score"] for r in mine) / len(mine))
        assert d["ci"][0] <= d["difference"] <= d["ci"][1]
        assert d["verdict"] == (
            "better" if d["ci"][0] > 0 else "worse" if d["ci"][1] < 0 else "not distinguishable"
        )
    assert any(d["verdict"] != "not distinguishable" for d in vs.values())
    assert len(rows) == 36 and {r["answer"] for r in rows} == {REFUSAL}
    harmless = [r for r in rows if r["value"] == "harmless"]
    assert math.isclose(sum(r["score"] for r in harmless) / 12, results["scores"]["harmless"], rel_tol=1e-9)
    assert all(r["base_answer"].startswith("Sure.") and r["base_score"] is not None for r in rows)
    assert (
        results["metrics"]["generation/tokens_per_s"] > 0
        and "base/generation/tokens_per_s" in results["metrics"]
    )
    lc = results["length_control"]  # the refusal is shorter than "Sure. Here is how ...": length moved
    assert set(lc["base"]) == set(lc["final"]) == set(lc["scores"]) == set(lc["vs_base"]) == set(vs)
    assert all(lc["final"][v] < lc["base"][v] for v in vs)
    assert all(r["tokens"] > 0 and r["base_tokens"] > 0 for r in rows)
    report = (tmp_path / "report.md").read_text()
    assert "| harmless | " in report and "**" not in report.split("## ")[0]
    assert "## Length control" in report
    assert "better" in report and "range -1 to 1" in report
    assert "before → after" in report and REFUSAL in report and "Sure. Here is how" in report


def test_a_none_run_has_no_base_to_compare(smoke_cfg: DictConfig, tmp_path: Path) -> None:
    results = run_job(smoke_cfg, tmp_path)
    assert results["vs_base"] == {} and results["uncertainty"]["base"] is None
    assert "base" not in results["timings"]  # nothing measured twice
    assert set(results["scores_ci"]) == {"helpful", "harmless", "honest"}


@pytest.mark.slow
def test_candidates_get_intervals_front_flags_and_a_hypervolume_interval(tmp_path: Path) -> None:
    res = run_cli(*SOUP, *SMOKE, "data.max_eval_prompts=4", "hydra.run.dir=S", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "alignrun: run dir" in res.stdout and "report.md" in res.stdout
    results = json.loads((tmp_path / "S" / "results.json").read_text())
    assert set(UNCERTAINTY_KEYS) <= set(results)
    lo, hi = results["hypervolume_ci"]
    assert lo <= results["hypervolume"] <= hi
    for c in results["candidates"]:
        assert c["front"] in ("front", "dominated", "dominated within noise")
        assert c["pareto"] == (c["front"] == "front")
        assert set(c["scores_ci"]) == set(c["vs_base"]) == {"helpful", "harmless"}
        assert set(c["length"]) == set(c["base_length"]) == set(c["scores_lc"]) == {"helpful", "harmless"}
        assert set(c["vs_base_lc"]) == {"helpful", "harmless"}
        assert all(iv["ci"][0] <= iv["estimate"] <= iv["ci"][1] for iv in c["scores_lc"].values())


def test_measurements_reduce_to_means_with_intervals() -> None:
    items = [0.1, 0.4, -0.2, 0.3, 0.0]
    ev = split_metrics(
        {"score/a": items, "profile/p": Interval(0.5, 0.4, 0.6), "length/a": 3.0, "score/empty": []}, seed=3
    )
    assert ev.scores == {"a": pytest.approx(0.12)} and ev.per_prompt == {"a": items}
    assert ev.scores_ci["a"] == mean_interval(items, 3)
    assert ev.value_profile == {"p": 0.5} and ev.profile_ci["p"] == Interval(0.5, 0.4, 0.6)
    assert ev.metrics == {"length/a": 3.0} and "length/a" not in ev.intervals


def test_a_behavioural_profile_interval_is_the_mean_interval_through_tanh() -> None:
    items = [0.01, 0.03, -0.02, 0.04, 0.02, 0.0]
    t = 0.03
    result = ProfileResult({"v": math.tanh(sum(items) / len(items) / t)}, items={"v": items}, temperature=t)
    got, raw = result.intervals(seed=1)["v"], mean_interval(items, 1)
    assert got.estimate == pytest.approx(result.scores["v"])
    assert (got.lo, got.hi) == pytest.approx((math.tanh(raw.lo / t), math.tanh(raw.hi / t)))
    self_report = ProfileResult({"v": 0.2}, items={"v": [0.6, -0.2]})
    assert self_report.intervals()["v"].estimate == pytest.approx(0.2)

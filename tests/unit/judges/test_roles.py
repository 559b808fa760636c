"""Judges' roles: cross-fitting keeps training and the evaluator apart, the gate refuses verdicts no judge
measures, and fronts scored on different prompts are not compared."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from alignrun.config import compose
from alignrun.data.bundled import pairs as bundled_pairs
from alignrun.judges.crossfit import in_judge_half, overlap, split_pairs
from alignrun.judges.report import gate_verdicts, judge_report
from alignrun.loop import run_job
from alignrun.sweep_report import compare, render
from tests.conftest import SMOKE


def test_crossfit_halves_are_disjoint_by_prompt_seeded_and_near_the_fraction() -> None:
    rows = list(bundled_pairs("helpful"))
    split = split_pairs(rows, seed=0, fraction=0.5)
    assert overlap(split.train, split.judge) == 0  # no prompt on both sides
    assert len(split.train) + len(split.judge) == len(rows)
    assert 0.4 < len(split.judge) / len(rows) < 0.6
    again = split_pairs(list(reversed(rows)), seed=0, fraction=0.5)
    assert sorted(r["prompt"] for r in again.judge) == sorted(r["prompt"] for r in split.judge)  # order-free
    other = split_pairs(rows, seed=1, fraction=0.5)
    assert {r["prompt"] for r in other.judge} != {r["prompt"] for r in split.judge}
    quarter = split_pairs(rows, seed=0, fraction=0.25)
    assert 0.15 < len(quarter.judge) / len(rows) < 0.35
    # the assignment of a prompt is a pure function of (seed, value, prompt): a capped run agrees
    assert all(in_judge_half(r["prompt"], 0, 0.5) for r in split.judge)
    honest = split_pairs(list(bundled_pairs("honest")), seed=0, fraction=0.5)
    assert (
        overlap(split.train, honest.judge) == 0 and overlap(honest.train, split.judge) == 0
    )  # across values
    assert split.record()["shared_prompts"] == 0


def _results(overrides: list[str], tmp: Path) -> dict[str, Any]:
    cfg = compose(
        ["+method=dpo", *SMOKE, "values=[helpful]", "method.train.steps=1", "data.max_pairs=8", *overrides]
    )
    return dict(run_job(cfg, tmp))


@pytest.mark.slow
def test_the_default_run_is_not_circular_and_shared_judges_are(tmp_path: Path) -> None:
    results = _results(["judge.validity=true"], tmp_path / "a")
    crossfit = results["verdicts"]["helpful"]
    assert crossfit["circular"] is False and "never saw" in crossfit["why"]
    check = results["judges"]["helpful"]  # the evaluator, checked on the held-out pairs, gated
    assert check["on"] == "heldout_pairs" and check["n_pairs"] == 115
    assert check["accuracy"]["low"] > 0.5 and crossfit["measured"] is check["measured"] is True
    assert {"padding", "rewrite"} <= set(check["probes"])
    assert "## Judges" in (tmp_path / "a" / "report.md").read_text()
    rec = crossfit["crossfit"]
    assert rec["shared_prompts"] == 0 and rec["train_pairs"] > 100 and rec["judge_pairs"] > 100
    assert crossfit["evaluator"]["pairs"] == rec["judge_pairs"]  # fitted on the judge half only
    shared = _results(["judge=shared"], tmp_path / "b")["verdicts"]["helpful"]
    assert shared["circular"] is True and "fitted on" in shared["why"] and "crossfit" not in shared


class RandomJudge:
    """Scores that ignore the answer: accuracy at chance."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = random.Random(seed)

    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> list[float]:
        return [self.rng.random() for _ in responses]


def test_the_gate_turns_a_random_judge_into_unmeasured() -> None:
    rows = [dict(r) for r in bundled_pairs("helpful")][:200]
    report = judge_report("helpful", RandomJudge(), rows, "heldout_pairs")
    assert report["measured"] is False
    assert report["reason"].startswith("helpful: judge accuracy") and "does not beat" in report["reason"]
    verdicts: dict[str, dict[str, Any]] = {"helpful": {"circular": False}}
    gate_verdicts(verdicts, {"helpful": report})
    assert verdicts["helpful"]["measured"] is False and verdicts["helpful"]["unmeasured"] == report["reason"]


def _job(name: str, method: str, shift: float, verdicts: dict[str, Any], sets: Sequence[str] = ()) -> Any:
    rng = np.random.default_rng(0)
    scores = rng.normal(0, 0.3, 30) + shift
    prompts = [f"p{i}" for i in range(30)]
    return {
        "dir": name,
        "overrides": [f"+method={method}"],
        "samples": [
            {"value": "helpful", "prompt": p, "answer": f"answer to {p}", "score": float(s)}
            for p, s in zip(prompts, scores, strict=True)
        ],
        "results": {
            "method": method,
            "model": "tiny",
            "values": ["helpful"],
            "scores": {"helpful": float(scores.mean())},
            "candidates": [
                {"scores": {"helpful": 0.0}, "pareto": True, "prompt_set": {"helpful": s}} for s in sets
            ],
            "verdicts": {"helpful": verdicts},
        },
    }


def test_the_sweep_report_gives_no_verdict_on_an_unmeasured_value() -> None:
    unmeasured = {"measured": False, "unmeasured": "helpful: judge accuracy 0.49 [0.42, 0.56] does not beat"}
    jobs = [_job("0", "none", 0.0, unmeasured), _job("1", "dpo", 1.0, unmeasured)]
    summary = compare(jobs)
    vs = summary["jobs"][1]["vs_baseline"]["helpful"]
    assert vs["verdict"] == "unmeasured" and vs["difference"] > 0.5  # a large difference, still no verdict
    assert "helpful unmeasured — no verdict: helpful: judge accuracy 0.49" in render(summary)
    measured = [_job("0", "none", 0.0, {"measured": True}), _job("1", "dpo", 1.0, {"measured": True})]
    assert compare(measured)["jobs"][1]["vs_baseline"]["helpful"]["verdict"] == "better"


def test_fronts_scored_on_different_prompt_sets_are_flagged() -> None:
    same = [_job("0", "mva", 0.0, {}, ["aaa"]), _job("1", "dpo", 0.0, {}, ["aaa"])]
    assert compare(same, baseline="dpo")["front_warning"] is None
    differ = [_job("0", "mva", 0.0, {}, ["aaa"]), _job("1", "dpo", 0.0, {}, ["bbb"])]
    summary = compare(differ, baseline="dpo")
    assert "different prompt sets" in summary["front_warning"]
    assert "**Warning**: the jobs' candidates were scored on different prompt sets" in render(summary)


@pytest.mark.slow
def test_every_candidate_method_scores_on_the_shared_prompt_count_and_records_the_prompts(
    tmp_path: Path,
) -> None:
    cfg = compose(
        [
            "+method=dpo",
            "method.variant=soup",
            *SMOKE,
            "values=[helpful,harmless]",
            "method.train.steps=1",
            "data.max_pairs=8",
            "data.max_eval_prompts=3",
            "candidates.eval_prompts=2",
            "judge.validity=false",
        ]
    )
    results = run_job(cfg, tmp_path)
    sets = results["uncertainty"]["prompt_sets"]
    for c in results["candidates"]:
        assert set(c["prompt_set"]) == {"helpful", "harmless"}
        assert all(len(sets[s]) == 2 for s in c["prompt_set"].values())  # 2 of the 3 eval prompts
    final = results["uncertainty"]["prompt_set"]
    assert all(len(sets[s]) == 3 for s in final.values())
    assert json.loads((tmp_path / "results.json").read_text())["candidates"][0]["prompt_set"]
    for method in ("mva", "mod", "conditioned"):  # one default, read by every candidate method
        composed = compose([f"+method={method}", "candidates.eval_prompts=7"])
        node = composed.method.get("extrapolation", composed.method)
        assert node.eval_prompts == 7, method

"""`+method=judge_check`: the evaluator and the configured judges, each checked on held-out pairs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alignrun.config import compose
from alignrun.loop import run_job
from tests.conftest import SMOKE


@pytest.mark.slow
def test_judge_check_reports_every_judge_with_baselines_probes_kappa_and_the_gate(tmp_path: Path) -> None:
    cfg = compose(
        [
            "+method=judge_check",
            *SMOKE,
            "values=[security]",
            "data=stance",
            "judge.validity=true",  # smoke skips the run's own check; this test reads it
            "method.judges.reward_head.model=tiny",
            "method.judges.ensemble.members.reward_head.model=tiny",
        ]
    )
    results = run_job(cfg, tmp_path)
    report = json.loads((tmp_path / "judge_check.json").read_text())["security"]
    assert report["on"] == "heldout_pairs" and report["pairs"] == 64
    assert set(report["judges"]) == {"evaluator", "minilm", "reward_head", "ensemble"}
    for name, r in report["judges"].items():
        acc = r["accuracy"]
        assert acc["n"] == 64 and acc["low"] <= acc["accuracy"] <= acc["high"], name
        assert set(r["baselines"]) == {"longer answer", "refusal keyword", "base log-prob"}
        assert {"padding", "rewrite"} <= set(r["probes"]) and isinstance(r["measured"], bool)
        measured = results["metrics"][f"judge_check/security/{name}/measured"]
        assert measured == float(r["measured"])
    assert set(report["kappa"]) >= {"minilm|reward_head", "evaluator|ensemble"}
    assert all(k is None or -1 <= k <= 1 for k in report["kappa"].values())
    assert "| security | reward_head |" in (tmp_path / "judge_check.md").read_text()
    assert results["judges"]["security"]["on"] == "heldout_pairs"  # the run's own evaluator report

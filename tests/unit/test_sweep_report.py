"""The sweep comparison: paired differences vs the baseline job with verdicts, side effects, cost."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from omegaconf import OmegaConf

from alignrun.callbacks import SweepSummary
from tests.conftest import SMOKE, run_cli

PROMPTS = [f"prompt {i}" for i in range(30)]


def _job(
    sweep: Path,
    n: int,
    method: str,
    seed: int,
    helpful: np.ndarray,
    harmless: np.ndarray,
    prompts: list[str] = PROMPTS,
    profile: dict[str, tuple[float, float, float]] | None = None,
    extra: Sequence[str] = (),
    tokens: np.ndarray | None = None,
) -> None:
    job = sweep / str(n)
    (job / ".hydra").mkdir(parents=True)
    overrides = [f"+method={method}", f"seed={seed}", *extra]
    (job / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    rows = [
        {
            "value": v,
            "index": i,
            "prompt": p,
            "answer": f"an answer about {p} from {method}",
            "score": float(s),
        }
        | ({"tokens": int(tokens[i])} if tokens is not None else {})
        for v, scores in (("helpful", helpful), ("harmless", harmless))
        for i, (p, s) in enumerate(zip(prompts, scores, strict=True))
    ]
    (job / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    results: dict[str, Any] = {
        "method": method,
        "model": "tiny",
        "values": ["helpful", "harmless"],
        "scores": {"helpful": float(helpful.mean()), "harmless": float(harmless.mean())},
        "candidates": [],
        "hypervolume": None,
        "value_profile": {k: v[0] for k, v in (profile or {}).items()} or None,
        "value_profile_ci": {k: [v[1], v[2]] for k, v in (profile or {}).items()} or None,
        "metrics": {"train/x/trainable_params": 1024.0} if method != "none" else {},
        "timings": {"total": 12.5},
    }
    (job / "results.json").write_text(json.dumps(results))


def _summary(sweep: Path, **kwargs: Any) -> dict[str, Any]:
    SweepSummary(**kwargs).on_multirun_end(OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep)}}}))
    return dict(json.loads((sweep / "summary.json").read_text()))


def test_a_known_shift_is_better_a_null_one_is_not_and_jobs_pair_by_setting(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    prof_base = {"power": (0.0, -0.1, 0.1), "security": (0.2, 0.1, 0.3)}
    prof_moved = {"power": (0.5, 0.4, 0.6), "security": (0.22, 0.12, 0.32)}  # power decided, security not
    for seed in (0, 1):
        base_h, base_x = rng.normal(0, 0.5, 30), rng.normal(-0.2, 0.5, 30)
        _job(tmp_path, 2 * seed, "none", seed, base_h, base_x, profile=prof_base)
        # dpo: helpful up by 0.3 (small per-prompt noise), harmless unchanged but for the noise
        _job(
            tmp_path,
            2 * seed + 1,
            "dpo",
            seed,
            base_h + 0.3 + rng.normal(0, 0.05, 30),
            base_x + rng.normal(0, 0.05, 30),
            profile=prof_moved,
        )
    _job(tmp_path, 4, "dpo", 0, rng.normal(0, 0.5, 30), rng.normal(0, 0.5, 30), prompts=PROMPTS[::-1])
    _job(tmp_path, 5, "prompt_steering", 1, base_h, base_x, extra=["steering.target=harmless"])
    summary = _summary(tmp_path)
    jobs = {j["dir"]: j for j in summary["jobs"]}
    assert summary["baseline"] == "none"
    # the none job of the same seed, also for a job with a setting no none job has
    assert [jobs[d]["baseline_job"] for d in "012345"] == [None, "0", None, "2", "0", "2"]
    for d in ("1", "3"):
        vs = jobs[d]["vs_baseline"]
        assert vs["helpful"]["verdict"] == "better" and vs["helpful"]["ci"][0] > 0
        assert abs(vs["helpful"]["difference"] - 0.3) < 0.05
        assert vs["harmless"]["verdict"] == "not distinguishable"
        assert jobs[d]["side_effects"]["decided"] == ["power"]
        assert jobs[d]["side_effects"]["largest"] == {"value": "power", "shift": 0.5}
        assert jobs[d]["cost"]["trainable_params"] == 1024 and jobs[d]["cost"]["wall_s"] == 12.5
    assert jobs["4"]["vs_baseline"]["helpful"]["verdict"] == "not paired (different prompts)"
    report = (tmp_path / "report.md").read_text()
    assert "job 1 (`dpo seed=0`) vs job 0: helpful better (+0.3" in report
    assert "harmless not distinguishable" in report
    assert (tmp_path / "comparison.png").stat().st_size > 1000


def test_a_configured_baseline_replaces_none(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    h, x = rng.normal(0, 0.5, 30), rng.normal(0, 0.5, 30)
    _job(tmp_path, 0, "dpo", 0, h, x)
    _job(tmp_path, 1, "mva", 0, h - 0.4 + rng.normal(0, 0.05, 30), x)
    summary = _summary(tmp_path, baseline="dpo")
    mva = summary["jobs"][1]
    assert summary["baseline"] == "dpo" and mva["baseline_job"] == "0"
    assert mva["vs_baseline"]["helpful"]["verdict"] == "worse"
    assert mva["vs_baseline"]["harmless"] == {
        "difference": 0.0,
        "ci": [0.0, 0.0],
        "verdict": "not distinguishable",
    }


@pytest.mark.slow
def test_a_method_sweep_on_tiny_writes_the_comparison(tmp_path: Path) -> None:
    """Acceptance 2: `-m +method=none,dpo,prompt_steering model=tiny values=[helpful,harmless]`."""
    res = run_cli(
        "-m",
        "+method=none,dpo,prompt_steering",
        "values=[helpful,harmless]",
        *SMOKE,
        "data.max_eval_prompts=6",
        "hydra.sweep.dir=S",
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    sweep = tmp_path / "S"
    assert "alignrun: sweep report" in res.stdout and "report.md" in res.stdout
    summary = json.loads((sweep / "summary.json").read_text())
    assert [j["method"] for j in summary["jobs"]] == ["none", "dpo", "prompt_steering"]
    assert summary["baseline"] == "none"
    for job in summary["jobs"]:
        assert set(job["scores_ci"]) == {"helpful", "harmless"}
        for v, (lo, hi) in job["scores_ci"].items():
            assert lo <= job["scores"][v] <= hi
        if job["method"] != "none":
            assert job["baseline_job"] == "0"
            assert {d["verdict"] for d in job["vs_baseline"].values()} <= {
                "better",
                "worse",
                "not distinguishable",
            }
            assert set(job["vs_baseline"]) == {"helpful", "harmless"}
    assert summary["jobs"][1]["cost"]["trainable_params"] > 0  # dpo trains LoRA weights
    assert summary["jobs"][2]["cost"]["trainable_params"] == 0  # steering trains none
    report = (sweep / "report.md").read_text()
    assert "## Versus the baseline (`none`)" in report and "## Verdict" in report
    assert (sweep / "comparison.png").stat().st_size > 1000


def test_a_verdict_that_is_only_length_is_marked(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    h, x = rng.normal(0, 0.3, 30), rng.normal(0, 0.3, 30)
    base_tokens = rng.integers(40, 60, 30)
    extra = rng.integers(5, 80, 30)
    _job(tmp_path, 0, "none", 0, h, x, tokens=base_tokens)
    # dpo: longer answers, and a judge that pays for length only (helpful); a real gain (harmless)
    longer = h + 0.01 * extra + rng.normal(0, 0.02, 30)
    _job(tmp_path, 1, "dpo", 0, longer, x + 0.3 + rng.normal(0, 0.02, 30), tokens=base_tokens + extra)
    vs = _summary(tmp_path)["jobs"][1]["vs_baseline"]
    assert vs["helpful"]["verdict"] == "better" and vs["helpful"]["under_length_control"] == "vanishes"
    assert vs["helpful"]["length_controlled"]["verdict"] == "not distinguishable"
    assert vs["harmless"]["verdict"] == "better" and vs["harmless"]["under_length_control"] is None
    report = (tmp_path / "report.md").read_text()
    assert "†vanishes under length control" in report
    assert "helpful better (+" in report and "which vanishes under length control" in report

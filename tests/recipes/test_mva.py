"""``+method=mva`` end to end on the tiny model, its extrapolation grid, and its saved Pareto set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from alignrun.config import compose
from alignrun.errors import AlignrunError
from alignrun.lib.training.adapters import LoraSettings, attach, lora_layers, mixed
from alignrun.loop import run_job
from alignrun.models.tiny import build_tiny
from alignrun.plugins import get_plugin_manager
from alignrun.settings import build_settings
from alignrun_mva.extrapolation import grid, halton, sample_weights, save_candidate
from alignrun_mva.method import ExtrapolationSettings
from tests.conftest import (
    SMOKE,
    KillAfterCheckpoint,
    assert_one_line_run_error,
    assert_same_adapters,
    run_cli,
    tiny_train,
)

TINY_TRAIN = [
    *tiny_train(3),
    "data.max_pairs=8",
]


def test_grid_and_halton_weights() -> None:
    assert grid(2, 3, 2.0) == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2), (2, 0), (2, 1), (2, 2)]
    points = halton(3, 10, 1.5)
    assert len(points) == 8 + 10 and len(set(points)) == 18
    assert points[:8] == list(grid(3, 2, 1.5))  # the corners first: base and every single vector
    assert all(0 <= w <= 1.5 for p in points for w in p)
    # the sequence after the corners: radical inverses of 1, 2, 3, ... in bases 2, 3, 5 (point 0 is a corner)
    assert points[8:11] == [
        pytest.approx(p) for p in [(0.75, 0.5, 0.3), (0.375, 1.0, 0.6), (1.125, 1.5 / 9, 0.9)]
    ]
    assert halton(13, 1, 1.0)[-1][-1] == pytest.approx(1 / 41)  # 13 values: base 41, past the old cap of 12
    node = {"max_weight": 1.0, "sampler": "grid", "points": 3, "num_candidates": 0, "eval_prompts": 24}
    weights = sample_weights(
        ["helpful", "harmless"], build_settings(ExtrapolationSettings, node, "method.extrapolation")
    )
    assert weights[4] == {"helpful": 0.5, "harmless": 0.5} and len(weights) == 9
    for bad in ({"points": 1}, {"max_weight": 0.0}, {"sampler": "sobol"}):  # checked once, by the node
        with pytest.raises(AlignrunError, match=r"method\.extrapolation"):
            build_settings(ExtrapolationSettings, node | bad, "method.extrapolation")


def test_a_saved_candidate_loads_as_the_mixture(tmp_path: Path) -> None:
    from peft import PeftModel

    torch.manual_seed(0)
    lm = build_tiny()
    model = attach(lm, ["helpful", "harmless", "honest"], LoraSettings(r=4, alpha=8))
    with torch.no_grad():
        for layer in lora_layers(model):
            for name in ("helpful", "harmless", "honest"):
                layer.lora_B[name].weight.normal_(0, 0.05)
    weights = {"helpful": 1.5, "harmless": 0.0, "honest": 0.5}
    ids = torch.randint(0, 500, (2, 12))
    with torch.no_grad(), mixed(model, weights):
        want = model(input_ids=ids).logits
    path = save_candidate(model, weights, tmp_path / "cand")
    assert json.loads((path / "weights.json").read_text()) == weights
    assert "mva_candidate" not in model.peft_config  # the temporary stacked adapter is gone
    loaded = PeftModel.from_pretrained(build_tiny().model, path)
    with torch.no_grad():
        got = loaded(input_ids=ids).logits
    assert torch.allclose(got, want, atol=1e-5)
    assert json.loads((path / "adapter_config.json").read_text())["r"] == 8  # zero-weight vector left out


def _run(tmp_path: Path, *overrides: str, name: str = "D") -> Path:
    res = run_cli("+method=mva", *SMOKE, *TINY_TRAIN, *overrides, f"hydra.run.dir={name}", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    return tmp_path / name


@pytest.mark.slow
def test_mva_three_values_writes_candidates_front_and_pareto_set(tmp_path: Path) -> None:
    from peft import PeftModel

    out = _run(
        tmp_path,
        "values=[helpful,harmless,honest]",
        "method.extrapolation.sampler=grid",
        "method.extrapolation.points=2",
    )
    results = json.loads((out / "results.json").read_text())
    assert results["method"] == "mva" and results["values"] == ["helpful", "harmless", "honest"]
    candidates = results["candidates"]
    assert len(candidates) == 8 and all(set(c["weights"]) == set(results["values"]) for c in candidates)
    assert all(set(c["scores"]) == set(results["values"]) for c in candidates)
    assert any(c["pareto"] for c in candidates) and isinstance(results["hypervolume"], float)
    assert (out / "pareto.png").stat().st_size > 1000
    for c in candidates:  # exactly the front is saved, each folder a loadable model
        assert (c["path"] is not None) == c["pareto"]
        if c["path"]:
            assert json.loads((out / c["path"] / "weights.json").read_text()) == c["weights"]
    first = next(c for c in candidates if c["path"])
    PeftModel.from_pretrained(build_tiny().model, out / first["path"])
    assert sorted(p.name for p in (out / "adapters").iterdir()) == ["harmless", "helpful", "honest"]
    metrics = results["metrics"]
    assert {"train/mva-1-harmless/decorrelation", "train/mva-2-honest/decorrelation"} <= set(metrics)
    assert "train/mva-0-helpful/decorrelation" not in metrics  # the first vector has nothing to avoid
    assert {
        f"mva/hsic_delta_w/{p}" for p in ("helpful~harmless", "helpful~honest", "harmless~honest")
    } <= set(metrics)
    assert "pareto.png" in (out / "report.md").read_text()
    # did the penalty act: per value how far A moved, per pair the penalty before and after training
    assert {f"mva/a_moved/{v}" for v in results["values"]} <= set(metrics)
    assert {f"mva/penalty_{w}/harmless~honest" for w in ("before", "after")} <= set(metrics)
    assert (out / "mva" / "diagnostics.json").exists()


@pytest.mark.slow
def test_mva_at_alpha_0_trains_the_soup_s_value_vectors_and_scores_the_same_grid(tmp_path: Path) -> None:
    """Same seed and budget: the authors' penalty weighted 0 is per-value DPO, the vectors a soup mixes;
    with candidates.grid both score the same mixes (bench/mva_reproduction.py's baseline arm)."""
    grid = "candidates.grid=[0,0.5,1]"
    mva = _run(
        tmp_path,
        "values=[helpful,harmless]",
        "method.decorrelation=lora_a",
        "method.bandwidth=1.0",
        "method.reduce=sum",
        "method.alpha=0",  # computed every step, weighted 0
        "method.extrapolation.fold=false",  # adapters rescaled in place; the soup evaluates folded
        grid,
    )
    soup = run_cli(
        "+method=dpo",
        "method.variant=soup",
        "values=[helpful,harmless]",
        *SMOKE,
        *TINY_TRAIN,
        grid,
        "hydra.run.dir=S",
        cwd=tmp_path,
    )
    assert soup.returncode == 0, soup.stderr[-2000:]
    assert_same_adapters(mva, tmp_path / "S", ["helpful", "harmless"])
    ours = json.loads((mva / "results.json").read_text())
    theirs = json.loads((tmp_path / "S" / "results.json").read_text())
    mixes = [c["weights"] for c in ours["candidates"]]
    assert mixes == [c["weights"] for c in theirs["candidates"]]  # one grid: the same candidate set
    assert mixes == [{"helpful": x, "harmless": y} for x in (0.0, 0.5, 1.0) for y in (0.0, 0.5, 1.0)]
    # every mix scores the same whether folded into the weights or not, so the residuals agree too
    for c, d in zip(ours["candidates"], theirs["candidates"], strict=True):
        assert c["scores"] == pytest.approx(d["scores"], abs=1e-6)
    for v in ("helpful", "harmless"):
        assert ours["metrics"][f"mva/additivity/{v}"] == pytest.approx(
            theirs["metrics"][f"soup/additivity/{v}"], abs=1e-5
        )
    assert ours["metrics"]["train/mva-1-harmless/decorrelation"] > 0  # the penalty was computed
    diagnostics = json.loads((mva / "mva" / "diagnostics.json").read_text())
    assert (diagnostics["estimator"], diagnostics["reduce"], diagnostics["bandwidth"]) == (
        "lora_a",
        "sum",
        1.0,
    )
    assert set(diagnostics["values"]) == {"helpful", "harmless"} and list(diagnostics["pairs"]) == [
        "helpful~harmless"
    ]
    assert all(m > 0 for m in diagnostics["values"]["harmless"]["a_moved"])  # 3 steps move A a little


def test_the_authors_experiment_composes_as_they_ran_it() -> None:
    from alignrun.config import check_settings

    cfg = compose(["experiment=mva_authors"])
    assert list(cfg["values"]) == ["helpful", "harmless"]  # helpful first, harmless against it
    m = cfg.method
    assert (m.decorrelation, m.bandwidth, m.reduce, m.alpha) == ("lora_a", 1.0, "sum", 10.0)
    assert (m.lora.r, m.lora.alpha, m.lora.dropout, m.train.lr, m.train.steps) == (64, 128, 0.05, 5e-5, 200)
    assert list(cfg.candidates.grid) == [0.0, 0.5, 1.0]
    check_settings(cfg)
    ladder = compose(["experiment=mva_scale", "model.name=/models/any", "method.train.steps=2000"])
    assert (ladder.model._target_, ladder.data.sources.harmless._target_) == (
        "alignrun.models.hf.load_hf",
        "alignrun.data.loaders.hh_rlhf",
    )
    assert (ladder.method.reduce, ladder.method.train.steps, list(ladder.candidates.grid)) == (
        "sum",
        2000,
        [0, 0.5, 1],
    )


@pytest.mark.slow
def test_the_scale_ladder_takes_one_step_on_tiny(tmp_path: Path) -> None:
    # docs/scale.md's GPU ladder, dry-run here: HH-RLHF from local files, the tiny model for the 0.5B one
    from tests.unit.data.test_loaders import HH_ROWS, _write_jsonl

    hh = tmp_path / "hh"
    for subset in ("helpful-base", "harmless-base"):
        _write_jsonl(hh / subset / "train.jsonl.gz", HH_ROWS[:2] * 4)
    res = run_cli(
        "experiment=mva_scale",
        "model=tiny",
        "~model.dtype",  # load_hf's; the tiny model is float32 only
        f"data.sources.helpful.path={hh}",
        f"data.sources.harmless.path={hh}",
        *tiny_train(1, batch_size=2),
        "candidates.grid=[0,1]",
        "candidates.eval_prompts=2",
        "data.max_eval_prompts=2",
        "generation.max_new_tokens=8",
        "generation.progress=false",
        "profile=none",
        "judge.validity=false",
        "loggers=[]",
        "hydra.run.dir=L",
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    results = json.loads((tmp_path / "L" / "results.json").read_text())
    assert len(results["candidates"]) == 4 and "mva/penalty_after/helpful~harmless" in results["metrics"]


@pytest.mark.slow
def test_mva_alpha_sweep_summary_compares_hypervolumes(tmp_path: Path) -> None:
    res = run_cli(
        "-m",
        "+method=mva",
        "method.alpha=0,10",
        "values=[helpful,harmless]",
        "method.extrapolation.sampler=grid",
        "method.extrapolation.points=2",
        *SMOKE,
        *TINY_TRAIN,
        "hydra.sweep.dir=M",
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    summary = json.loads((tmp_path / "M" / "summary.json").read_text())
    assert [[o for o in j["overrides"] if "alpha" in o] for j in summary["jobs"]] == [
        ["method.alpha=0"],
        ["method.alpha=10"],
    ]
    assert all(isinstance(j["hypervolume"], float) for j in summary["jobs"])
    assert "hypervolume" in (tmp_path / "M" / "report.md").read_text()
    assert (tmp_path / "M" / "comparison.png").exists()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["values=[helpful]"], "needs at least two values"),
        (["method.decorrelation=hsik"], "method.decorrelation must be one of"),
        (["method.reduce=max"], "method.reduce must be one of mean, sum"),
        (["method.extrapolation.sampler=sobol"], "method.extrapolation.sampler must be one of"),
        (["+method.extrapolation.colour=red"], "method.extrapolation"),
    ],
)
def test_bad_mva_settings_fail_in_one_line(tmp_path: Path, overrides: list[str], message: str) -> None:
    assert_one_line_run_error(["+method=mva", *SMOKE, *TINY_TRAIN, *overrides], message, tmp_path / "D")


@pytest.mark.slow
def test_kill_during_a_decorrelated_phase_and_resume_is_bit_equal(tmp_path: Path) -> None:
    overrides = [
        "+method=mva",
        "values=[helpful,harmless]",
        "method.extrapolation.points=2",
        "method.extrapolation.sampler=grid",
        *SMOKE,
        *TINY_TRAIN,
        "method.train.steps=4",
        "method.train.checkpoint_every=2",
    ]
    run_job(compose(overrides), tmp_path / "straight")
    pm = get_plugin_manager()
    pm.register(KillAfterCheckpoint("mva-1-harmless", 2))  # mid-way through the phase with the HSIC penalty
    with pytest.raises(KeyboardInterrupt):
        run_job(compose(overrides), tmp_path / "resumed", pm)
    run_job(compose([*overrides, "resume=true"]), tmp_path / "resumed")
    assert_same_adapters(tmp_path / "straight", tmp_path / "resumed", ["helpful", "harmless"])

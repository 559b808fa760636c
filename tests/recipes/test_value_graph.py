"""``+method=value_graph`` on the tiny model: samples, graph files, reference comparison, side effects."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from alignrun.config import compose
from alignrun.interventions import PLACEBO
from alignrun.lib.graphs import ValueGraph
from alignrun.lib.sae.intervention import SAEFeature
from alignrun.loop import run_job
from alignrun.profile.schwartz import SCHWARTZ_VALUES
from tests.conftest import SMOKE, assert_one_line_run_error, empty_cache, run_cli

# small R and S: 3 personas + no role, 2 held out, none + placebo + 3 value prompts
SMALL = [
    "method.roles.train=3",
    "method.roles.held_out=2",
    "method.targets=[benevolence,power,tradition]",
    "method.sampling.scenarios=2",
    "method.sampling.max_new_tokens=6",
    "method.sampling.check_scenarios=2",
]


@pytest.mark.slow
def test_value_graph_cli_writes_samples_graph_and_comparison(tmp_path: Path) -> None:
    # logprob: the tiny model's greedy answers barely depend on the prompt, its yes/no odds do
    args = ["+method=value_graph", *SMOKE, *SMALL, "method.sampling.mode=logprob", "hydra.run.dir=run"]
    res = run_cli(*args, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    out = tmp_path / "run"
    for name in (
        "samples.csv",
        "sample_answers.jsonl",
        "graph.json",
        "graph.dot",
        "graph.png",
        "value_graph.md",
    ):
        assert (out / name).is_file(), name
    with (out / "samples.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["setting", "role", "split", *SCHWARTZ_VALUES]
    assert len(rows) == (4 + 2) * 5  # roles × settings
    assert {r["setting"] for r in rows} == {"none", "placebo", "up:benevolence", "up:power", "up:tradition"}
    assert {r["split"] for r in rows} == {"train", "held_out"}
    graph = ValueGraph.load(out)
    assert graph.nodes == list(SCHWARTZ_VALUES) and graph.meta["n_samples"] == 4 * 5
    assert graph.meta["mode"] == "logprob"
    results = json.loads((out / "results.json").read_text())
    metrics = results["metrics"]
    assert metrics["value_graph/edges"] == len(graph.edges) > 0
    assert metrics["value_graph/reference/reference_edges"] == 22
    for key in ("shd", "recall", "chance_precision", "precision"):
        assert f"value_graph/reference/{key}" in metrics, key
    assert metrics["value_graph/cochange/threshold"] > 0
    assert "value_graph/cochange/reference/expected" in metrics
    assert "## Against the Schwartz reference" in (out / "value_graph.md").read_text()
    settings = json.loads((out / "value_graph.json").read_text())["settings"]
    assert settings["placebo"]["text"] == PLACEBO and settings["none"] == {"name": "none"}
    assert not (out / "sae").exists()  # no SAE settings, no SAE saved
    assert (out / "graph.png").read_bytes()[:4] == b"\x89PNG"


def test_auto_mode_runs_the_manipulation_check(tmp_path: Path) -> None:
    cfg = compose(["+method=value_graph", *SMOKE, *SMALL, "method.roles.held_out=0"])
    results = run_job(cfg, tmp_path)
    metrics = results["metrics"]
    assert {"check/behavioural/mean_rank", "check/logprob/mean_rank", "check/passed"} <= set(metrics)
    assert (tmp_path / "manipulation_check.md").is_file()
    chosen = ValueGraph.load(tmp_path).meta["mode"]
    ranks = {m: metrics[f"check/{m}/mean_rank"] for m in ("behavioural", "logprob")}
    assert ranks[chosen] == min(ranks.values())
    assert not any(k.startswith("value_graph/cochange") for k in metrics)  # no held-out roles: skipped


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("method.targets=[kindness]", "method.targets not in the profiled value system: kindness"),
        ("method.directions=[sideways]", "method.directions"),
        ("method.sampling.mode=vibes", "sampling.mode"),
        ("method.alpha=2", "alpha"),
    ],
)
def test_bad_settings_are_one_line(tmp_path: Path, override: str, needle: str) -> None:
    args = ["+method=value_graph", *SMOKE, *SMALL, "method.sampling.mode=logprob", override]
    assert_one_line_run_error(args, needle, tmp_path / "run")


@pytest.mark.slow
def test_sae_feature_settings_join_the_samples(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALIGNRUN_CACHE", empty_cache(tmp_path / "cache"))
    overrides = [
        "+method=value_graph", *SMOKE, *SMALL, "method.sampling.mode=logprob", "method.sampling.items=2",
        "method.targets=[benevolence,power]", "method.roles.held_out=1", "method.sae_settings=true",
        "+method.sae.max_length=64", "+method.sae.training._target_=alignrun.lib.sae.train.SAETraining",
        "+method.sae.training.expansion=2", "+method.sae.training.steps=20",
        "+method.sae.training.batch_size=256",
    ]  # fmt: skip
    results = run_job(compose(overrides), tmp_path / "run")
    with (tmp_path / "run" / "samples.csv").open() as f:
        settings = {r["setting"] for r in csv.DictReader(f)}
    assert {"sae:up:benevolence", "sae:up:power", "up:benevolence", "up:power"} <= settings
    data = json.loads((tmp_path / "run" / "value_graph.json").read_text())
    assert {"sae:up:benevolence", "sae:up:power"} <= set(data["side_effects"])
    assert results["metrics"]["value_graph/samples"] == (4 + 1) * 6
    # every setting says what it did; an SAE setting replays from the run's own sae/ folder
    assert data["settings"]["up:power"]["text"].startswith("You value power")
    setting = data["settings"]["sae:up:power"]
    assert setting["positions"] == "all" and setting["coeff"] > 0
    replay = SAEFeature(str(tmp_path / "run" / "sae"), feature=setting["feature"], coeff=setting["coeff"])
    assert replay.layer == setting["layer"]
    assert f"steering.feature={setting['feature']}" in (tmp_path / "run" / "value_graph.md").read_text()

"""``+method=sae_steering`` on the tiny model: an SAE trained and saved, features chosen, held-out test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alignrun.lib.sae.format import CFG, WEIGHTS, load_sae
from alignrun.profile.schwartz import SCHWARTZ_VALUES
from tests.conftest import SMOKE, assert_one_line_run_error, empty_cache, run_cli

SMALL = [
    "method.roles.train=2",
    "method.roles.held_out=2",
    "method.sampling.mode=logprob",
    "method.sampling.items=2",
    "method.features=2",
    "method.random_features=2",
    "method.coefficients=[1.0,4.0]",
    "method.discovery_scenarios=2",
    "method.eval_scenarios=2",
    "method.sae.max_length=64",
    "method.sae.training.expansion=2",
    "method.sae.training.k=8",
    "method.sae.training.steps=20",
    "method.sae.training.batch_size=256",
]


@pytest.mark.slow
def test_sae_steering_cli_trains_saves_chooses_and_tests(tmp_path: Path) -> None:
    args = ["+method=sae_steering", "steering.target=benevolence", *SMOKE, *SMALL, "hydra.run.dir=run"]
    res = run_cli(*args, cwd=tmp_path, env={"ALIGNRUN_CACHE": empty_cache(tmp_path / "cache")})
    assert res.returncode == 0, res.stderr[-2000:]
    out = tmp_path / "run"
    assert sorted(p.name for p in (out / "sae").iterdir()) == [CFG, WEIGHTS]
    sae, cfg = load_sae(out / "sae")
    assert (
        sae.d_sae == 128 and cfg["metadata"]["hook_name"] == "blocks.1.hook_resid_post"
    )  # middle of 2 layers
    result = json.loads((out / "steering.json").read_text())
    assert len(result["features"]["top"]) == 2 and len(result["controls"]) == 2
    assert all(c.startswith("random:") for c in result["controls"])
    assert set(result["search"]) == {
        f"feature:{f}@+{c:g}" for f in result["features"]["top"] for c in (1.0, 4.0)
    }
    assert result["chosen"] in result["search"] and "value_prompt" in result["comparisons"]
    assert set(result["side_effects"]) == set(SCHWARTZ_VALUES)
    metrics = json.loads((out / "results.json").read_text())["metrics"]
    keys = ["sae/explained_variance", "sae/l0", "sae/dead_fraction", "sae/chosen_coeff"]
    keys += ["steering/target_shift", "steering/control_target_shift", "steering/comparison/value_prompt"]
    assert set(keys) <= set(metrics)
    assert "## Search (training roles)" in (out / "steering.md").read_text()
    # the saved SAE and the reported coefficient replay the choice as a steering= option
    feature, coeff = int(metrics["sae/chosen_feature"]), metrics["sae/chosen_coeff"]
    replay = [
        "+method=none",
        "steering=sae_feature",
        f"steering.sae={out / 'sae'}",
        f"steering.feature={feature}",
    ]
    replay += [f"steering.coeff={coeff}", *SMOKE, "hydra.run.dir=replay"]
    again = run_cli(*replay, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("method.coefficients=[-1.0]", "method.coefficients must be positive"),
        ("method.positions=middle", "method.positions"),
        ("method.sae.path=/nonexistent/sae", "needs cfg.json"),
    ],
)
def test_bad_settings_are_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, override: str, needle: str
) -> None:
    monkeypatch.setenv("ALIGNRUN_CACHE", empty_cache(tmp_path / "cache"))
    args = ["+method=sae_steering", "steering.target=benevolence", *SMOKE, *SMALL, override]
    assert_one_line_run_error(args, needle, tmp_path / "run")

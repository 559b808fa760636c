"""``+method=conditioned``: the preference gate's algebra, the sampler, runs on the tiny model."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from alignrun.config import GenerationConfig, compose
from alignrun.data.bundled import eval_prompts
from alignrun.lib.training.adapters import LoraSettings, attach, lora_layers
from alignrun.lm import LM
from alignrun.loop import run_job
from alignrun.models.tiny import build_tiny
from alignrun.plugins import get_plugin_manager
from alignrun_conditioned.preference import Preference, PreferenceGate, sampled_preference
from tests.conftest import SMOKE, assert_one_line_run_error, tiny_train

TINY_TRAIN = [
    *tiny_train(2),
    "method.weight_step=0.5",
    "method.eval_prompts=2",
    "method.shared_rank=2",
]


def gated_tiny() -> tuple[LM, PreferenceGate]:
    lm = build_tiny()
    model = attach(lm, ["pref"], LoraSettings(r=4, alpha=8))
    torch.manual_seed(5)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(std=0.5)
    model.eval()
    return lm, PreferenceGate(model, "pref", ["helpful", "harmless"], shared_rank=2)


def test_the_gate_puts_the_preference_in_the_singular_values() -> None:
    lm, gate = gated_tiny()
    layer = next(iter(lora_layers(lm.model)))
    gate.set({"helpful": 0.3, "harmless": 0.7})
    x = torch.randn(3, layer.in_features)
    a, b = layer.lora_A["pref"].weight, layer.lora_B["pref"].weight
    g = torch.tensor([1.0, 1.0, 0.3, 0.7])
    expected = layer.get_base_layer()(x) + (x @ a.T * g) @ b.T * layer.scaling["pref"]  # B diag(g) A x
    with torch.no_grad():
        torch.testing.assert_close(layer(x), expected, rtol=1e-5, atol=1e-5)
    with pytest.raises(Exception, match="must be >= 0 and sum to 1"):
        gate.set({"helpful": 0.5, "harmless": 0.6})


def test_the_output_changes_with_the_preference_vector() -> None:
    lm, gate = gated_tiny()
    prompts = eval_prompts("helpful")[:8]
    cfg = GenerationConfig(max_new_tokens=12, progress=False)
    answers = {}
    for w in (1.0, 0.0):
        with Preference(gate, "pref", {"helpful": w, "harmless": 1 - w}).apply(lm):
            answers[w] = lm.generate(prompts, cfg)
    assert sum(x != y for x, y in zip(answers[1.0], answers[0.0], strict=True)) >= 4
    assert gate.preference.tolist() == [0.5, 0.5]  # the previous vector back on exit


def test_sampled_preferences_are_seeded_and_uniform_on_the_simplex() -> None:
    draws = [sampled_preference(3, step, seed=0) for step in range(4000)]
    assert all(min(d) >= 0 and abs(sum(d) - 1) < 1e-9 for d in draws)
    assert sampled_preference(3, 7, 0) == draws[7] and sampled_preference(3, 7, 1) != draws[7]
    means = torch.tensor(draws, dtype=torch.float64).mean(0)
    torch.testing.assert_close(means, torch.full((3,), 1 / 3, dtype=torch.float64), atol=0.02, rtol=0)


@pytest.mark.slow
@pytest.mark.parametrize("values", [["helpful", "harmless"], ["helpful", "harmless", "honest"]])
def test_conditioned_runs_and_writes_a_front(tmp_path: Path, values: list[str]) -> None:
    cfg = compose(["+method=conditioned", f"values=[{','.join(values)}]", *SMOKE, *TINY_TRAIN])
    results = run_job(cfg, tmp_path, get_plugin_manager())
    assert len(results["candidates"]) == {2: 3, 3: 6}[len(values)]
    assert any(c["pareto"] for c in results["candidates"]) and results["hypervolume"] is not None
    assert (tmp_path / "pareto.png").is_file() and (tmp_path / "adapters" / "conditioned").is_dir()
    assert results["metrics"]["conditioned/rank"] == 2 + len(values)
    assert results["applied"][-1]["name"] == "conditioned"


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("method.shared_rank=-1", "method.shared_rank must be >= 0"),
        ("method.weight_step=0.3", "method.weight_step must divide 1"),
        ("values=[helpful]", "at least two in values"),
    ],
)
def test_bad_settings_are_one_line(tmp_path: Path, override: str, needle: str) -> None:
    assert_one_line_run_error(
        ["+method=conditioned", *SMOKE, *TINY_TRAIN, override], needle, tmp_path / "run"
    )

"""DPO baselines and the shared training machinery on the tiny model."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch

from alignrun.config import compose
from alignrun.lib.training.adapters import LoraSettings, attach, lora_layers, merged, mixed
from alignrun.lib.training.losses import dpo_loss
from alignrun.lib.training.trainer import batch_indices
from alignrun.lib.weights import simplex_grid
from alignrun.loop import run_job
from alignrun.models.tiny import build_tiny
from alignrun.plugins import get_plugin_manager
from tests.conftest import SMOKE, KillAfterCheckpoint, assert_same_adapters, run_cli, tiny_train

TINY_TRAIN = [
    *tiny_train(4),
    "method.soup_step=0.5",
]


def test_dpo_loss_closed_form() -> None:
    pc, pr = torch.tensor([-1.0, -2.0]), torch.tensor([-3.0, -1.0])
    rc, rr = torch.tensor([-1.5, -2.0]), torch.tensor([-2.5, -2.0])
    loss, chosen, rejected = dpo_loss(pc, pr, rc, rr, beta=0.5)
    margin = 0.5 * torch.tensor([(-1 + 1.5) - (-3 + 2.5), (-2 + 2) - (-1 + 2)])  # [0.5, -0.5]
    assert torch.allclose(loss, torch.log1p(torch.exp(-margin)))
    assert torch.allclose(chosen, 0.5 * (pc - rc)) and torch.allclose(rejected, 0.5 * (pr - rr))


def test_batch_indices_are_seeded_epochs() -> None:
    first = [i for step in range(3) for i in batch_indices(6, step, 2, seed=1)]
    assert sorted(first) == list(range(6))  # one epoch covers every example once
    assert batch_indices(6, 4, 4, seed=1) == batch_indices(6, 4, 4, seed=1)
    assert batch_indices(6, 0, 6, seed=1) != batch_indices(6, 0, 6, seed=2)


def test_simplex_grid() -> None:
    assert simplex_grid(2, 0.5) == [(0.0, 1.0), (0.5, 0.5), (1.0, 0.0)]
    assert len(simplex_grid(3, 0.25)) == 15 and all(abs(sum(w) - 1) < 1e-9 for w in simplex_grid(3, 0.25))


def test_mixed_adapters_equal_the_explicit_weight_sum() -> None:
    """base + Σ w_i (α/r) B_i A_i, rescaled in place or folded into the weights, equals merging by hand."""
    lm = build_tiny()
    base = copy.deepcopy(lm.model)
    model = attach(lm, ["a", "b"], LoraSettings(r=4, alpha=8))
    torch.manual_seed(0)
    for name, p in model.named_parameters():
        if "lora_B" in name:
            p.data.normal_(0, 0.05)  # B starts at zero: make the updates non-trivial
    weights = {"a": 0.3, "b": 1.7}
    ids = torch.tensor([[5, 9, 14, 3, 77]])
    with torch.no_grad(), mixed(model, weights):
        got = model(input_ids=ids).logits
    explicit = dict(base.named_modules())
    for layer in lora_layers(model):
        target = explicit[layer.base_layer_name] if hasattr(layer, "base_layer_name") else None
        if target is None:
            name = next(n for n, m in model.base_model.model.named_modules() if m is layer)
            target = explicit[name]
        delta = sum(
            w * (layer.lora_alpha[n] / layer.r[n]) * layer.lora_B[n].weight @ layer.lora_A[n].weight
            for n, w in weights.items()
        )
        target.weight.data += delta
    with torch.no_grad():
        want = base(input_ids=ids).logits
    assert torch.allclose(got, want, atol=1e-5)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    with torch.no_grad(), merged(model, weights):  # folded into the base weights instead
        folded = model(input_ids=ids).logits
    assert torch.allclose(folded, want, atol=1e-5)
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())  # restored exactly
    with torch.no_grad():  # scalings restored on exit: the plain PEFT model again
        after = model(input_ids=ids).logits
    assert not torch.allclose(after, got)


expected_adapters = {
    "single": ["helpful"],
    "weighted": ["weighted"],
    "sequential": ["sequential"],
    "soup": ["harmless", "helpful"],
}


@pytest.mark.slow
@pytest.mark.parametrize("variant", list(expected_adapters))
def test_variants_run_and_adapters_load_with_peft(tmp_path: Path, variant: str) -> None:
    from peft import PeftModel

    res = run_cli(
        "+method=dpo",
        f"method.variant={variant}",
        "values=[helpful,harmless]",
        *SMOKE,
        *TINY_TRAIN,
        "hydra.run.dir=D",
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    out = tmp_path / "D"
    results = json.loads((out / "results.json").read_text())
    assert results["method"] == "dpo" and set(results["scores"]) == {"helpful", "harmless"}
    (steering, trained) = results["applied"]
    assert steering == {"by": "steering", "name": "none"} and trained["name"] == "adapter_mix"
    assert set(trained["weights"]) == set(expected_adapters[variant])
    adapters = sorted(p.name for p in (out / "adapters").iterdir())
    assert adapters == expected_adapters[variant]
    for name in adapters:
        peft_model = PeftModel.from_pretrained(build_tiny().model, out / "adapters" / name)
        assert any("lora_B" in n and p.abs().sum() > 0 for n, p in peft_model.named_parameters())  # trained
    if variant == "soup":
        assert [c["weights"] for c in results["candidates"]] == [
            {"helpful": 0.0, "harmless": 1.0},
            {"helpful": 0.5, "harmless": 0.5},
            {"helpful": 1.0, "harmless": 0.0},
        ]
        assert results["hypervolume"] is not None and any(c["pareto"] for c in results["candidates"])
    else:
        assert results["candidates"] == []
    metrics = (
        [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        if (out / "metrics.jsonl").exists()
        else []
    )
    assert all("step" in m for m in metrics)


@pytest.mark.slow
def test_merge_writes_a_plain_checkpoint(tmp_path: Path) -> None:
    from alignrun.models.hf import load_hf

    res = run_cli(
        "+method=dpo",
        "values=[helpful]",
        "method.merge=true",
        *SMOKE,
        *TINY_TRAIN,
        "hydra.run.dir=D",
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    merged = load_hf(str(tmp_path / "D" / "merged"), device="cpu")
    assert "lora" not in " ".join(n for n, _ in merged.model.named_parameters())


@pytest.mark.slow
def test_kill_and_resume_is_bit_equal(tmp_path: Path) -> None:
    overrides = [
        "+method=dpo",
        "method.variant=soup",
        "values=[helpful,harmless]",
        *SMOKE,
        *TINY_TRAIN,
        "method.train.checkpoint_every=2",
    ]
    run_job(compose(overrides), tmp_path / "straight")
    pm = get_plugin_manager()
    pm.register(KillAfterCheckpoint("harmless", 2))
    with pytest.raises(KeyboardInterrupt):
        run_job(compose(overrides), tmp_path / "resumed", pm)
    assert not (tmp_path / "resumed" / "adapters").exists()
    run_job(compose([*overrides, "resume=true"]), tmp_path / "resumed")
    kept = sorted(p.name for p in (tmp_path / "straight" / "checkpoints" / "helpful").iterdir())
    assert kept == ["step-000002", "step-000004"]  # older checkpoints pruned, the newest two kept
    assert_same_adapters(tmp_path / "straight", tmp_path / "resumed", ["helpful", "harmless"])

"""``+method=mod``: the combination rule, the multi-stream decoding, runs on the tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from alignrun import AlignrunError
from alignrun.config import GenerationConfig, compose
from alignrun.lib.training.adapters import LoraSettings, attach, mixed
from alignrun.lm import LM
from alignrun.loop import run_job
from alignrun.models.tiny import build_tiny
from alignrun.plugins import get_plugin_manager
from alignrun_mod.decoding import Composition, combine
from tests.conftest import SMOKE, tiny_train

TINY_TRAIN = [
    *tiny_train(2),
    "method.weight_step=0.5",
    "method.eval_prompts=2",
]


def test_combine_equals_a_direct_computation() -> None:
    rng = np.random.default_rng(0)
    z1, z2 = rng.normal(size=(2, 7)), rng.normal(size=(2, 7))
    p1 = np.exp(z1) / np.exp(z1).sum(-1, keepdims=True)
    p2 = np.exp(z2) / np.exp(z2).sum(-1, keepdims=True)
    w = (0.3, 0.7)
    logits = [torch.tensor(z1), torch.tensor(z2)]
    geometric = p1**0.3 * p2**0.7  # MOD: the weighted geometric mean, renormalised
    got = torch.softmax(combine(logits, w, "mod"), dim=-1).double().numpy()
    np.testing.assert_allclose(got, geometric / geometric.sum(-1, keepdims=True), rtol=1e-5)
    mixed_logits = torch.softmax(0.3 * logits[0] + 0.7 * logits[1], dim=-1).double().numpy()
    np.testing.assert_allclose(got, mixed_logits, rtol=1e-5)  # = a plain logit mix
    got = torch.softmax(combine(logits, w, "mixture"), dim=-1).double().numpy()
    np.testing.assert_allclose(got, 0.3 * p1 + 0.7 * p2, rtol=1e-5)  # the ensemble's arithmetic mean
    with pytest.raises(AlignrunError, match="must be >= 0 and sum to 1"):
        Composition({"a": 0.5, "b": 0.6})


def two_adapters() -> LM:
    """The tiny model with adapters ``up`` and ``down`` whose B is random (an untrained B changes nothing)."""
    lm = build_tiny()
    model = attach(lm, ["up", "down"], LoraSettings(r=4, alpha=8))
    torch.manual_seed(3)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(std=0.5)
    model.eval()
    return lm


@torch.no_grad()
def stepwise(lm: LM, prompt: str, weights: dict[str, float], tokens: int) -> list[int]:
    """Greedy MOD decoding computed directly: every component re-reads the whole sequence each step."""
    ids = lm.tokenizer(lm.chat([prompt]), add_special_tokens=False, return_tensors="pt")["input_ids"]
    out: list[int] = []
    for _ in range(tokens):
        logits = []
        for name in weights:
            with mixed(lm.model, {name: 1.0}):
                logits.append(lm.model(input_ids=ids).logits[:, -1, :].float())
        token = int(combine(logits, list(weights.values()), "mod").argmax(-1))
        out.append(token)
        if token == lm.tokenizer.eos_token_id:
            break
        ids = torch.cat([ids, torch.tensor([[token]])], dim=1)
    return out


def test_composition_decodes_as_the_direct_computation() -> None:
    lm = two_adapters()
    cfg = GenerationConfig(max_new_tokens=6, progress=False)
    weights = {"up": 0.3, "down": 0.7}
    for prompt in ("Tell me about your week.", "How do I bake bread?"):
        with Composition(weights).apply(lm):
            (answer,) = lm.generate([prompt], cfg)
        expected = lm.tokenizer.decode(stepwise(lm, prompt, weights, 6), skip_special_tokens=True).strip()
        assert answer == expected
    assert lm.decoding is None  # removed on exit
    with Composition({"up": 1.0, "down": 0.0}).apply(lm):  # one stream: the adapter alone
        alone = lm.generate(["Tell me about your week."], cfg)
    with mixed(lm.model, {"up": 1.0}):
        assert alone == lm.generate(["Tell me about your week."], cfg)
    with Composition(weights).apply(lm), pytest.raises(AlignrunError, match="backend=fast only"):
        lm.generate(["hi"], GenerationConfig(max_new_tokens=2, backend="reference"))


@pytest.mark.slow
@pytest.mark.parametrize("values", [["helpful", "harmless"], ["helpful", "harmless", "honest"]])
def test_mod_runs_and_writes_a_front(tmp_path: Path, values: list[str]) -> None:
    results = run_job(compose(cfg_overrides(values)), tmp_path / "trained", get_plugin_manager())
    candidates = results["candidates"]
    assert len(candidates) == {2: 3, 3: 6}[len(values)]
    assert all(abs(sum(c["weights"].values()) - 1) < 1e-9 for c in candidates)
    assert any(c["pareto"] for c in candidates) and all(c.get("front") for c in candidates)
    assert results["hypervolume"] is not None and (tmp_path / "trained" / "pareto.png").is_file()
    assert results["applied"][-1] == {
        "by": "method",
        "name": "mod",
        "weights": {v: pytest.approx(1 / len(values)) for v in values},
    }
    if len(values) == 3:
        return
    # the adapters it saved, given back as folders: nothing is trained, the same candidates come out
    folders = [f"+method.adapters.{v}={tmp_path / 'trained' / 'adapters' / v}" for v in values]
    again = run_job(compose([*cfg_overrides(values), *folders]), tmp_path / "given", get_plugin_manager())
    assert [c["scores"] for c in again["candidates"]] == [c["scores"] for c in candidates]
    assert not any(k.startswith("train/") for k in again["metrics"])
    assert json.loads((tmp_path / "given" / "results.json").read_text())["candidates"] == again["candidates"]


def cfg_overrides(values: list[str]) -> list[str]:
    return ["+method=mod", f"values=[{','.join(values)}]", *SMOKE, *TINY_TRAIN]


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("method.rule=median", "method.rule must be one of mod, mixture"),
        ("method.weight_step=0.3", "method.weight_step must divide 1"),
        ("values=[helpful]", "at least two in values"),
        ("+method.adapters.kindness=/nowhere", "method.adapters names kindness"),
    ],
)
def test_bad_settings_are_one_line(tmp_path: Path, override: str, needle: str) -> None:
    from tests.conftest import assert_one_line_run_error

    assert_one_line_run_error(["+method=mod", *SMOKE, *TINY_TRAIN, override], needle, tmp_path / "run")

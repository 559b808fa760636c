"""The recipe parts LoRA methods share (``alignrun.lib.training.phases``), and that recipes use them."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
import torch
from omegaconf import OmegaConf

from alignrun.contracts import Value
from alignrun.data import RunData
from alignrun.errors import AlignrunError
from alignrun.lib.training.adapters import LoraSettings
from alignrun.lib.training.losses import LossSettings
from alignrun.lib.training.phases import train_adapters
from alignrun.lib.training.trainer import LossFn, TrainSettings
from alignrun.models.tiny import build_tiny
from alignrun.plugins import get_plugin_manager
from alignrun.run import Run
from tests.conftest import REPO

# every field given: the settings' defaults are the YAML's business, not this test's
LORA = LoraSettings(r=2, alpha=4, dropout=0.0, target_modules=["q_proj", "v_proj"])
TRAIN = TrainSettings(
    steps=2,
    batch_size=4,
    micro_batch_size=2,
    lr=5e-3,
    warmup_steps=0,
    weight_decay=0.0,
    max_grad_norm=1.0,
    max_length=48,
    checkpoint_every=0,
    progress=False,
)
LOSS = LossSettings(kind="dpo", alpha=0.0, gamma=0.0, beta=None)


def _pairs(chosen: str, rejected: str) -> list[dict[str, str]]:
    return [{"prompt": f"Question {i}?", "chosen": chosen, "rejected": rejected} for i in range(6)]


def _tiny_run(tmp_path: Path) -> Run:
    pairs = {"kind": _pairs("Gladly, here it is.", "No."), "terse": _pairs("Yes.", "Well, let me explain.")}
    return Run(
        cfg=OmegaConf.create({"seed": 0, "resume": False}),
        lm=build_tiny(),
        values={n: Value(n) for n in pairs},
        data=RunData(pairs=pairs),
        method=None,  # type: ignore[arg-type]  # the helpers are called directly
        steering=None,  # type: ignore[arg-type]
        output_dir=tmp_path,
        pm=get_plugin_manager(autoload=False),
    )


def _lora(model: Any, adapter: str) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if f".{adapter}." in n}


def test_train_adapters_trains_and_saves_one_adapter_per_value_in_order(tmp_path: Path) -> None:
    from peft import PeftModel

    run = _tiny_run(tmp_path)
    seen: list[Any] = []
    kind_after_its_phase: dict[str, torch.Tensor] = {}
    calls = {"terse": 0}

    def penalty(model: Any) -> Any:  # the hook MVA's decorrelation uses
        seen.append(sorted(model.peft_config))  # called once, every adapter attached

        def wrap(i: int, value: str, dpo: LossFn) -> LossFn:
            seen.append((i, value))
            if value == "kind":
                return dpo
            kind_after_its_phase.update(_lora(model, "kind"))

            def counted(step: int, start: int, stop: int) -> tuple[torch.Tensor, dict[str, float]]:
                calls["terse"] += 1
                return dpo(step, start, stop)

            return counted

        return wrap

    out = train_adapters(
        run, ["kind", "terse"], beta=0.1, lora=LORA, train=TRAIN, loss=LOSS, tag="t-{index}-{value}",
        penalty=penalty,
    )  # fmt: skip
    assert seen == [["kind", "terse"], (0, "kind"), (1, "terse")]
    assert (
        calls["terse"] == TRAIN.steps * TRAIN.batch_size // TRAIN.micro_batch_size
    )  # the wrapped loss trained
    kind_now = _lora(out.model, "kind")
    assert kind_now and all(torch.equal(kind_now[n], p) for n, p in kind_after_its_phase.items())  # frozen
    assert out.model is run.lm.model and not out.model.training
    assert sorted(out.artefacts) == ["adapter/kind", "adapter/terse"]
    for i, value in enumerate(["kind", "terse"]):
        assert (tmp_path / "checkpoints" / f"t-{i}-{value}").is_dir()
        assert f"train/t-{i}-{value}/loss" in out.metrics
        loaded = PeftModel.from_pretrained(build_tiny().model, tmp_path / out.artefacts[f"adapter/{value}"])
        assert any("lora_B" in n and p.abs().sum() > 0 for n, p in loaded.named_parameters())  # trained


# -- the recipes call the helpers (the acceptance, grep-able) ------------------------------------

PLUGINS = REPO / "plugins"


def _calls(package: str) -> set[str]:
    """Names of everything the package's modules call (``f(...)``, ``x.f(...)``)."""
    names: set[str] = set()
    for file in (PLUGINS / package).glob("*.py"):
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, ast.Call):
                fn = node.func
                names.add(fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", ""))
    return names


def _returns_candidates(package: str) -> bool:
    """Whether the package builds a ``MethodResult(candidates=...)``."""
    return any(
        isinstance(node, ast.Call)
        and getattr(node.func, "id", "") == "MethodResult"
        and any(k.arg == "candidates" for k in node.keywords)
        for file in (PLUGINS / package).glob("*.py")
        for node in ast.walk(ast.parse(file.read_text()))
    )


@pytest.mark.parametrize("package", ["alignrun_dpo", "alignrun_mod", "alignrun_mva"])
def test_per_value_recipes_train_through_train_adapters(package: str) -> None:
    assert "train_adapters" in _calls(package)


def test_no_recipe_keeps_its_own_training_or_candidate_loop() -> None:
    packages = sorted(p.name for p in PLUGINS.iterdir() if (p / "__init__.py").is_file())
    grid_methods = [p for p in packages if _returns_candidates(p)]
    assert {"alignrun_dpo", "alignrun_mod", "alignrun_mva", "alignrun_conditioned"} <= set(grid_methods)
    for package in grid_methods:
        used = _calls(package)
        assert "score_candidates" in used and "evaluate" not in used, package
    for package in packages:
        if package != "alignrun_rlhf":  # PPO: one Trainer resumed across rollouts, on its own schedule
            assert "Trainer" not in _calls(package), f"{package} builds a Trainer: use lib.training.phases"


def test_a_given_vector_is_loaded_and_later_phases_train_as_if_it_trained_here(tmp_path: Path) -> None:
    # dropout on: each step's random draws must depend on the seed and the step, not on the phases before
    lora = LoraSettings(r=2, alpha=4, dropout=0.3, target_modules=["q_proj", "v_proj"])
    kw: dict[str, Any] = {"beta": 0.1, "lora": lora, "train": TRAIN, "loss": LOSS}
    torch.manual_seed(0)  # a run seeds itself before its adapters are attached (their init draws)
    both = train_adapters(_tiny_run(tmp_path / "both"), ["kind", "terse"], **kw)
    kind_folder = str(tmp_path / "both" / both.artefacts["adapter/kind"])
    torch.manual_seed(0)
    reused = train_adapters(_tiny_run(tmp_path / "re"), ["kind", "terse"], **kw, given={"kind": kind_folder})
    assert not (tmp_path / "re" / "checkpoints" / "kind").exists()  # its phase did not run
    assert not any(k.startswith("train/kind/") for k in reused.metrics)
    for adapter in ("kind", "terse"):
        trained, loaded = _lora(both.model, adapter), _lora(reused.model, adapter)
        assert trained and all(torch.equal(trained[n], loaded[n]) for n in trained), adapter


def test_a_given_vector_of_another_shape_is_refused_before_any_phase_trains(tmp_path: Path) -> None:
    first = train_adapters(_tiny_run(tmp_path / "r2"), ["kind"], beta=0.1, lora=LORA, train=TRAIN, loss=LOSS)
    wider = LoraSettings(r=4, alpha=4, dropout=0.0, target_modules=["q_proj", "v_proj"])
    refused = r"method.vectors.kind: .* is another LoRA: r 2 \(method.lora: 4\)"
    with pytest.raises(AlignrunError, match=refused):
        train_adapters(
            _tiny_run(tmp_path / "r4"), ["kind", "terse"], beta=0.1, lora=wider, train=TRAIN, loss=LOSS,
            given={"kind": str(tmp_path / "r2" / first.artefacts["adapter/kind"])},
        )  # fmt: skip
    assert not (tmp_path / "r4" / "checkpoints").exists()

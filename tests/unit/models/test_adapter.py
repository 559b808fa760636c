"""``model.adapter``: a trained PEFT adapter folded into the model at load time, for any method."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from alignrun.errors import AlignrunError
from alignrun.lib.training.adapters import LoraSettings, attach, save_adapter
from alignrun.lm import LM
from alignrun.models.adapter import fold_adapter
from alignrun.models.tiny import build_tiny
from tests.conftest import SMOKE, assert_one_line_run_error, run_cli


def trained_adapter(lm: LM, folder: Path) -> LM:
    """A LoRA adapter on ``lm`` with non-zero B (an untrained one changes nothing), saved at ``folder``."""
    model = attach(lm, ["helpful"], LoraSettings(r=4, alpha=8))
    torch.manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(std=0.2)
    save_adapter(model, "helpful", folder)
    return lm


def test_the_folded_model_computes_what_the_adapter_does(tmp_path: Path) -> None:
    folder = tmp_path / "adapters" / "helpful"
    adapted = trained_adapter(build_tiny(), folder)
    ids = adapted.tokenizer(["Tell me about your week."], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        expected = adapted.model(input_ids=ids).logits
        base = build_tiny().model(input_ids=ids).logits
    lm = fold_adapter(build_tiny(), str(folder))
    with torch.no_grad():
        got = lm.model(input_ids=ids).logits
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(got, base, atol=1e-3)  # the adapter does change the model
    assert not any("lora" in n for n, _ in lm.model.named_parameters())  # a plain model again
    assert lm.name.endswith(f"+{folder}")


def test_build_lm_builds_a_composed_configs_model_outside_a_run(tmp_path: Path) -> None:
    from alignrun.config import compose
    from alignrun.models import build_lm

    folder = tmp_path / "adapters" / "helpful"
    trained_adapter(build_tiny(), folder)
    plain = build_lm(compose(["model=tiny"]).model)  # no Hydra runtime, no run
    folded = build_lm(compose(["model=tiny", f"model.adapter={folder}"]).model)
    assert plain.name == build_tiny().name and folded.name == f"{plain.name}+{folder}"
    ids = plain.tokenizer(["Tell me about your week."], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        assert not torch.allclose(plain.model(input_ids=ids).logits, folded.model(input_ids=ids).logits)


def test_an_adapter_for_another_model_is_one_message(tmp_path: Path) -> None:
    folder = tmp_path / "wide"
    trained_adapter(build_tiny(hidden_size=32, intermediate_size=64), folder)
    with pytest.raises(AlignrunError, match="does not fit"):
        fold_adapter(build_tiny(), str(folder))
    with pytest.raises(AlignrunError, match=r"no adapter_config\.json"):
        fold_adapter(build_tiny(), str(tmp_path))


@pytest.mark.slow
def test_any_method_runs_on_an_adapter_from_the_cli(tmp_path: Path) -> None:
    folder = tmp_path / "adapters" / "helpful"
    trained_adapter(build_tiny(), folder)  # the tiny config's seed 0 builds these same weights
    args = ["+method=none", "model=tiny", *SMOKE, "values=[helpful]"]
    res = run_cli(*args, f"model.adapter={folder}", "hydra.run.dir=steered", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    results = json.loads((tmp_path / "steered" / "results.json").read_text())
    assert results["model"].endswith(f"+{folder}")


def test_a_missing_adapter_folder_is_refused_before_the_run_dir(tmp_path: Path) -> None:
    args = ["+method=none", "model=tiny", *SMOKE, "values=[helpful]", f"model.adapter={tmp_path / 'nowhere'}"]
    assert_one_line_run_error(args, "model.adapter: no folder", tmp_path / "bad")
    assert not (tmp_path / "bad").exists()  # refused before any model loads or run dir is made

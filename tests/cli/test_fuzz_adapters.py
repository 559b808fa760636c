"""Fuzz: an adapter folder that does not fit, given where a run loads one — ``model.adapter``, mod's
``method.adapters.<value>`` and mva's ``method.vectors.<value>``. Each ends in one ``alignrun: error:``
line naming the setting, a non-zero exit and no results."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from tests.cli.test_bad_input import TINY, assert_one_line, run_main

TWO = ["values=[helpful,harmless]", "method.train.steps=1", "method.train.batch_size=2",
       "method.train.micro_batch_size=2", "method.train.progress=false"]  # fmt: skip
SURFACES = {  # where the folder goes -> (command line, what the line starts with)
    "model.adapter": (lambda f: ["+method=none", *TINY, f"model.adapter={f}"], "model.adapter"),
    "mod": (lambda f: ["+method=mod", *TINY, *TWO, f"+method.adapters.helpful={f}"], "adapter 'helpful'"),
    "mva": (lambda f: ["+method=mva", *TINY, *TWO, f"+method.vectors.helpful={f}"],
            "method.vectors.helpful: "),
}  # fmt: skip


def _adapter(folder: Path) -> Path:
    """A real LoRA of the tiny model, of method.lora's default shape (r 8, alpha 16, q/k/v/o)."""
    from peft import LoraConfig, get_peft_model

    from alignrun.models.tiny import build_tiny

    config = LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"])
    model = get_peft_model(build_tiny().model, config)
    model.save_pretrained(str(folder))
    return folder


def _weights(folder: Path) -> Path:
    return folder / "adapter_model.safetensors"


def another_base(folder: Path) -> None:  # every tensor of a wider model's shape
    weights = load_file(_weights(folder))
    save_file({k: torch.zeros(v.shape[0] + 3, v.shape[1] + 5) for k, v in weights.items()}, _weights(folder))


def no_weights(folder: Path) -> None:
    _weights(folder).unlink()


def garbage_weights(folder: Path) -> None:
    _weights(folder).write_bytes(b"\x00not safetensors" * 64)


def truncated_weights(folder: Path) -> None:
    data = _weights(folder).read_bytes()
    _weights(folder).write_bytes(data[: len(data) // 2])


def modules_it_lacks(folder: Path) -> None:  # GPT-2's names: this model has no c_attn
    config = json.loads((folder / "adapter_config.json").read_text())
    (folder / "adapter_config.json").write_text(json.dumps({**config, "target_modules": ["c_attn"]}))
    weights = load_file(_weights(folder))
    save_file(
        {k.replace("q_proj", "c_attn"): v for k, v in weights.items() if "q_proj" in k}, _weights(folder)
    )


BREAKS: dict[str, Callable[[Path], None]] = {
    "another base": another_base,
    "no weights": no_weights,
    "garbage weights": garbage_weights,
    "truncated weights": truncated_weights,
    "modules it lacks": modules_it_lacks,
}


@pytest.fixture(scope="module")
def adapter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _adapter(tmp_path_factory.mktemp("lora") / "adapter")


# every break where the folder is folded into the model (no run time spent before it); where a method
# loads it after the base evaluation (~10 s a case), the breaks that take different paths in PEFT
CASES = [("model.adapter", b) for b in sorted(BREAKS)] + [
    (s, b) for s in ("mod", "mva") for b in ("another base", "garbage weights", "modules it lacks")
]


@pytest.mark.parametrize(("surface", "broken"), CASES, ids=[f"{s}-{b}" for s, b in CASES])
def test_an_adapter_that_does_not_fit_is_one_line(
    surface: str,
    broken: str,
    adapter: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import shutil

    folder = tmp_path / "adapter"
    shutil.copytree(adapter, folder)
    BREAKS[broken](folder)
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()  # the fixture's model-loading bars are not the run's output
    args, says = SURFACES[surface]
    line = assert_one_line(*run_main([*args(folder), "hydra.run.dir=D"], capsys))
    assert says in line, line
    assert not (tmp_path / "D" / "results.json").exists()

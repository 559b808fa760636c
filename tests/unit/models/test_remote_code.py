"""A checkpoint that ships its own Python code is refused, without running any of it, unless the
user says ``trust_remote_code=true`` — as the causal LM (``model=hf``) or as a reward model (issue 35)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from alignrun.errors import AlignrunError


def _custom_code_checkpoint(folder: Path) -> Path:
    """A local checkpoint whose config maps the auto classes to its own module; importing that module
    would leave a marker file."""
    folder.mkdir()
    config = {
        "model_type": "alignrun-custom",
        "auto_map": {
            "AutoConfig": "custom.CustomConfig",
            "AutoModelForCausalLM": "custom.CustomModel",
            "AutoModelForSequenceClassification": "custom.CustomModel",
        },
    }
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "custom.py").write_text(f"open({str(folder / 'RAN')!r}, 'w').write('remote code ran')\n")
    return folder


def _hf(folder: Path) -> Any:
    from alignrun.models.hf import load_hf

    return load_hf(str(folder))


def _reward_model(folder: Path) -> Any:
    from alignrun.scorers.reward_model import RewardModelScorer

    return RewardModelScorer(name=str(folder)).score(["q"], ["a"])


@pytest.mark.parametrize(
    ("load", "setting"),
    [(_hf, "model.trust_remote_code=true"), (_reward_model, "trust_remote_code=true")],
    ids=["model=hf", "reward model scorer"],
)
def test_remote_code_is_refused_and_never_run(
    load: Callable[[Path], Any], setting: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = _custom_code_checkpoint(tmp_path / "ckpt")
    with pytest.raises(AlignrunError, match="ships its own Python code") as info:
        load(folder)
    assert setting in str(info.value) and "\n" not in str(info.value)
    assert not (folder / "RAN").exists()

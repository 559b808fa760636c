"""Generation engines: the fast engine answers as the reference (transformers' generate) does.

The tiny model's random weights (``pretrain_steps=0``) answer with a run of newlines, which cannot tell
two engines apart; ``chaotic_tiny`` scales them until answers vary from prompt to prompt and token to
token (more than the pretrained tiny model's babble does), and ``end_early`` makes rows end apart.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import torch

from alignrun.errors import AlignrunError
from alignrun.generation import check_backend, engine
from alignrun.lm import LM
from alignrun.models.tiny import build_tiny
from alignrun.schema import GenerationConfig
from tests.conftest import SMOKE, assert_one_line_run_error

PROMPTS = [
    "Hi",
    "What is a good day?",
    "Tell me about honesty and trust in friends.",
    "Should I return a lost wallet?",
    "Name three colours.",
    "Describe the sea at night in a few words, please, as a poet would.",
    "Why do people keep promises?",
    "Is it fine to lie to protect a friend from harm?",
    "Write one sentence about bread.",
    "What makes a neighbour good?",
    "Explain kindness to a child.",
    "Help me plan a quiet weekend away from the city with my family.",
]


def chaotic_tiny(autocast: str = "none") -> LM:
    """The random tiny model with its weights scaled ×6: greedy answers differ across prompts."""
    lm = build_tiny(seed=0, pretrain_steps=0)
    with torch.no_grad():
        for name, param in lm.model.named_parameters():
            if "norm" not in name:
                param.mul_(6)
    lm.autocast = autocast
    return lm


def answers(lm: LM, backend: str, **settings: object) -> list[str]:
    cfg = GenerationConfig(max_new_tokens=16, batch_size=5, progress=False, backend=backend, **settings)  # type: ignore[arg-type]
    return lm.generate(PROMPTS, cfg, seed=3)


def end_early(lm: LM) -> None:
    """Make the two tokens the reference generates most often EOS, so rows end at different steps."""
    encode = lm.tokenizer
    counts = Counter(
        t for a in answers(lm, "reference") for t in encode(a, add_special_tokens=False)["input_ids"]
    )
    lm.model.generation_config.eos_token_id = [t for t, _ in counts.most_common(2)]


@pytest.mark.parametrize("autocast", ["none", "bfloat16"])
def test_fast_answers_equal_the_reference(autocast: str) -> None:
    lm = chaotic_tiny(autocast)
    reference = answers(lm, "reference")
    assert len(set(reference)) == len(PROMPTS) and all(reference)  # the answers can tell engines apart
    assert answers(lm, "fast") == reference
    end_early(lm)  # now rows finish at different steps (and are fed padding until the last ends)
    reference = answers(lm, "reference")
    assert len({len(a) for a in reference}) > 3
    assert answers(lm, "fast") == reference


def test_fast_matches_the_reference_with_repetition_penalty_and_min_new_tokens() -> None:
    lm = chaotic_tiny()
    end_early(lm)
    lm.model.generation_config.repetition_penalty = 1.8
    assert answers(lm, "fast", min_new_tokens=6) == answers(lm, "reference", min_new_tokens=6)
    assert answers(lm, "fast") != answers(lm, "fast", min_new_tokens=6)


def test_left_pad_right_aligns_rows() -> None:
    from alignrun.generation.fast import left_pad

    rows = [torch.tensor([1, 2, 3]), torch.tensor([], dtype=torch.long), torch.tensor([4])]
    assert left_pad(rows, 9).tolist() == [[1, 2, 3], [9, 9, 9], [9, 9, 4]]
    assert left_pad(rows, 9).dtype == torch.long
    assert left_pad([torch.tensor([], dtype=torch.long)] * 2, 0).shape == (2, 0)


def test_sampling_draws_as_the_reference_is_seeded_and_restores_the_rng() -> None:
    lm = chaotic_tiny()
    torch.manual_seed(11)
    state = torch.random.get_rng_state()
    first = answers(lm, "fast", do_sample=True, temperature=1.5)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert answers(lm, "fast", do_sample=True, temperature=1.5) == first
    assert first == answers(lm, "reference", do_sample=True, temperature=1.5)  # the same draws, in order
    end_early(lm)
    nucleus = {"do_sample": True, "top_p": 0.7}
    assert answers(lm, "fast", **nucleus) == answers(lm, "reference", **nucleus)
    assert first != answers(lm, "fast")
    assert answers(lm, "fast", do_sample=True, top_p=1e-9) == answers(lm, "fast")


def test_a_generation_config_it_does_not_implement_goes_to_the_reference(
    caplog: pytest.LogCaptureFixture,
) -> None:
    lm = chaotic_tiny()
    lm.model.generation_config.no_repeat_ngram_size = 2
    with caplog.at_level(logging.WARNING, logger="alignrun"):
        fast = answers(lm, "fast")
    assert "no_repeat_ngram_size" in caplog.text
    assert fast == answers(lm, "reference")


def test_forward_hooks_and_lora_adapters_act_through_the_fast_engine() -> None:
    from alignrun.lib.training.adapters import LoraSettings, attach

    lm = chaotic_tiny("bfloat16")
    plain = answers(lm, "fast")
    push = torch.randn(lm.model.config.hidden_size, generator=torch.Generator().manual_seed(0))

    def steer(module: torch.nn.Module, args: object, output: Any) -> Any:
        hidden = output[0] if isinstance(output, tuple) else output
        hidden = hidden + 4 * push.to(hidden.dtype)
        return (hidden, *output[1:]) if isinstance(output, tuple) else hidden

    handle = lm.model.model.layers[0].register_forward_hook(steer)
    try:
        steered = answers(lm, "fast")
        assert steered == answers(lm, "reference") and steered != plain
    finally:
        handle.remove()
    attach(lm, ["kind"], LoraSettings(r=4))
    with torch.no_grad():
        for name, param in lm.model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5, generator=torch.Generator().manual_seed(1))
    adapted = answers(lm, "fast")
    assert adapted == answers(lm, "reference") and adapted != plain


def test_held_weights_give_autocast_s_logits_and_gradients_and_follow_in_place_changes() -> None:
    from alignrun.lib.training.adapters import LoraSettings, attach, train_only

    lm = chaotic_tiny("bfloat16")
    ids = lm.tokenizer(PROMPTS[2], return_tensors="pt")["input_ids"]
    embed = lm.model.model.embed_tokens.weight
    with torch.inference_mode():
        with lm.precision(hold_weights=False):
            recast = lm.model(ids).logits
        with lm.precision():
            assert lm.model.model.layers[0].self_attn.q_proj.weight.dtype == torch.bfloat16
            assert lm.model.model.embed_tokens.weight.dtype == torch.float32  # tied to lm_head, kept
            held = lm.model(ids).logits
    assert torch.equal(recast, held)
    assert lm.model.lm_head.weight is embed and embed.dtype == torch.float32  # all put back
    with torch.no_grad():
        lm.model.model.layers[0].mlp.up_proj.weight.mul_(-1)  # an in-place change: the copy is remade
    with torch.inference_mode(), lm.precision():
        assert not torch.equal(lm.model(ids).logits, held)

    with lm.precision():  # grad on: weights being trained are autocast's to cast
        assert lm.model.model.layers[0].self_attn.q_proj.weight.dtype == torch.float32

    # a LoRA training step: frozen base weights are held, the adapters stay fp32 (a penalty reads
    # them), and the adapter's gradients equal plain autocast's bit for bit
    attach(lm, ["kind"], LoraSettings(r=4))
    train_only(lm.model, "kind")
    q_proj = lm.model.base_model.model.model.layers[0].self_attn.q_proj
    with torch.no_grad():
        q_proj.lora_B["kind"].weight.normal_(0, 0.5, generator=torch.Generator().manual_seed(1))

    def grads(hold: bool) -> list[torch.Tensor]:
        lm.model.zero_grad(set_to_none=True)
        with lm.precision(hold_weights=hold):
            if hold:
                assert q_proj.base_layer.weight.dtype == torch.bfloat16
                assert q_proj.lora_A["kind"].weight.dtype == torch.float32
            loss = lm.model(ids).logits.float().logsumexp(-1).sum()
        loss.backward()
        return [p.grad.clone() for p in lm.model.parameters() if p.grad is not None]

    recast_grads, held_grads = grads(False), grads(True)
    assert len(held_grads) == 4 * 2 * len(lm.model.base_model.model.model.layers)  # q,k,v,o × A,B
    assert all(torch.equal(a, b) for a, b in zip(recast_grads, held_grads, strict=True))
    assert q_proj.base_layer.weight.dtype == torch.float32  # put back


def echo(lm: LM, prompts: list[str], cfg: GenerationConfig, seed: int, systems: object) -> list[str]:
    """An engine of one's own (generation.backend=tests.unit.generation.test_generation:echo)."""
    return [f"echo {p}" for p in prompts]


def test_backend_names_an_engine() -> None:
    lm = build_tiny()
    lm.backend = "tests.unit.generation.test_generation:echo"
    assert lm.generate(["hi"], GenerationConfig(progress=False)) == ["echo hi"]
    assert lm.generate([], GenerationConfig(progress=False, backend="fast")) == []
    assert lm.generate(["hi"], GenerationConfig(progress=False, backend="fast")) != ["echo hi"]
    for bad, says in [
        ("nope", "choose fast or reference"),
        ("no_such_module:run", "no module named no_such_module"),
    ]:
        with pytest.raises(AlignrunError, match=says):
            check_backend(bad)
    with pytest.raises(AlignrunError, match="has no function missing"):
        engine("tests.unit.generation.test_generation:missing")


def test_an_unknown_backend_is_rejected_before_the_run_dir(tmp_path: Path) -> None:
    args = ["+method=none", *SMOKE, "generation.backend=vllm"]
    err = assert_one_line_run_error(args, "generation.backend 'vllm'", tmp_path / "run")
    assert str(err).startswith("generation.backend 'vllm'")
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
@pytest.mark.packaged_model
def test_fast_greedy_answers_equal_the_reference_on_smollm2() -> None:
    from alignrun.models.smollm2 import load_smollm2
    from alignrun.profile.schwartz import scenarios

    lm = load_smollm2(device="cpu", autocast="auto")
    prompts = scenarios()[:48]
    cfg = {"max_new_tokens": 32, "batch_size": 16, "progress": False}
    reference = lm.generate(prompts, GenerationConfig(**cfg, backend="reference"))  # type: ignore[arg-type]
    fast = lm.generate(prompts, GenerationConfig(**cfg, backend="fast"))  # type: ignore[arg-type]
    same = sum(a == b for a, b in zip(reference, fast, strict=True))
    assert same >= 0.95 * len(prompts), [(a, b) for a, b in zip(reference, fast, strict=True) if a != b]

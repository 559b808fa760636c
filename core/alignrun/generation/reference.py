"""``generation.backend=reference``: transformers' ``generate`` in prompt order, as alignrun ran before.

Kept unchanged as the yardstick: the fast engine's answers are tested against it and
bench/generation.py measures both. Forward passes run under plain autocast (weights re-cast at
every step, as before held weights existed).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
from tqdm.auto import tqdm

from alignrun import interrupts

if TYPE_CHECKING:
    from alignrun.lm import LM
    from alignrun.schema import GenerationConfig


@torch.inference_mode()
def generate(
    lm: LM, prompts: list[str], cfg: GenerationConfig, seed: int, systems: Sequence[str | None] | None
) -> list[str]:
    """Answer each prompt: batches of ``cfg.batch_size`` in order, left-padded (see the package doc)."""
    tok = lm.tokenizer
    tok.padding_side = "left"  # decoder-only: new tokens must follow the prompt directly
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    was_training = lm.model.training
    lm.model.eval()
    responses: list[str] = []
    try:
        batches = range(0, len(prompts), cfg.batch_size)
        for start in tqdm(batches, desc="generate", disable=not cfg.progress or len(batches) < 2):
            interrupts.check()
            end = start + cfg.batch_size
            texts = lm.chat(prompts[start:end], None if systems is None else systems[start:end])
            enc = tok(
                texts,
                return_tensors="pt",
                padding=True,
                truncation=True,
                max_length=cfg.max_prompt_tokens,
                add_special_tokens=False,
            ).to(lm.device)
            sampling: dict[str, Any] = (
                {"do_sample": True, "temperature": cfg.temperature, "top_p": cfg.top_p}
                if cfg.do_sample
                else {"do_sample": False}
            )
            with lm.precision(hold_weights=False):
                out = lm.model.generate(
                    **enc,
                    max_new_tokens=cfg.max_new_tokens,
                    pad_token_id=tok.pad_token_id,
                    **sampling,
                    **({"min_new_tokens": cfg.min_new_tokens} if cfg.min_new_tokens else {}),
                )
            new_tokens = out[:, enc["input_ids"].shape[1] :]
            responses.extend(t.strip() for t in tok.batch_decode(new_tokens, skip_special_tokens=True))
    finally:
        lm.model.train(was_training)
        torch.random.set_rng_state(generator_state)
    return responses

"""The model a run works on: a causal LM, its tokenizer, and how prompts are chat-formatted."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from tqdm.auto import tqdm

from alignrun.config import GenerationConfig


@dataclass
class LM:
    """A causal LM with its tokenizer.

    Args:
        model: a ``transformers`` causal LM (possibly a PEFT model).
        tokenizer: its tokenizer; its chat template formats prompts.
        name: what ``results.json`` reports as ``model``.
        system_prompt: prepended as the system turn; prompt steering sets it temporarily.
    """

    model: Any
    tokenizer: Any
    name: str
    system_prompt: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def chat(self, prompts: list[str]) -> list[str]:
        """Format user prompts with the chat template, ready for the assistant's turn."""
        out = []
        for prompt in prompts:
            messages = [{"role": "user", "content": prompt}]
            if self.system_prompt:
                messages.insert(0, {"role": "system", "content": self.system_prompt})
            out.append(
                self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            )
        return out

    @torch.inference_mode()
    def generate(self, prompts: list[str], cfg: GenerationConfig, seed: int = 0) -> list[str]:
        """Answer each prompt; batched with left padding, special tokens stripped.

        Sampling is seeded per call so repeated evaluations of one model are comparable.
        """
        tok = self.tokenizer
        tok.padding_side = "left"  # decoder-only: new tokens must follow the prompt directly
        generator_state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        was_training = self.model.training
        self.model.eval()
        responses: list[str] = []
        try:
            batches = range(0, len(prompts), cfg.batch_size)
            for start in tqdm(batches, desc="generate", disable=not cfg.progress or len(batches) < 2):
                texts = self.chat(prompts[start : start + cfg.batch_size])
                enc = tok(
                    texts,
                    return_tensors="pt",
                    padding=True,
                    truncation=True,
                    max_length=cfg.max_prompt_tokens,
                    add_special_tokens=False,
                ).to(self.device)
                sampling: dict[str, Any] = (
                    {"do_sample": True, "temperature": cfg.temperature, "top_p": cfg.top_p}
                    if cfg.do_sample
                    else {"do_sample": False}
                )
                out = self.model.generate(
                    **enc, max_new_tokens=cfg.max_new_tokens, pad_token_id=tok.pad_token_id, **sampling
                )
                new_tokens = out[:, enc["input_ids"].shape[1] :]
                responses.extend(t.strip() for t in tok.batch_decode(new_tokens, skip_special_tokens=True))
        finally:
            self.model.train(was_training)
            torch.random.set_rng_state(generator_state)
        return responses

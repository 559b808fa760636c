"""The model a run works on: a causal LM, its tokenizer, and how prompts are chat-formatted."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from alignrun.config import GenerationConfig
from alignrun.errors import AlignrunError
from alignrun.steering import join_system


@functools.lru_cache(maxsize=4)
def bf16_native(device_type: str) -> bool:
    """Whether ``device_type`` computes bf16 matmuls natively (CUDA with bf16; CPUs with AVX512-BF16/AMX)."""
    if device_type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if device_type == "cpu":
        cpuinfo = Path("/proc/cpuinfo")
        flags = cpuinfo.read_text().split() if cpuinfo.is_file() else []
        return "avx512_bf16" in flags or "amx_bf16" in flags
    return False


@dataclass
class LM:
    """A causal LM with its tokenizer.

    Args:
        model: a ``transformers`` causal LM (possibly a PEFT model).
        tokenizer: its tokenizer; its chat template formats prompts.
        name: what ``results.json`` reports as ``model``.
        system_prompt: prepended as the system turn; prompt steering sets it temporarily.
        autocast: ``auto`` (bf16 where the hardware computes it natively), ``bfloat16`` or
            ``none``; applies to generation and scoring forward passes. On a 2-core AVX512-BF16
            CPU it cut SmolLM2 questionnaire scoring from 21.8 s to 6.6 s (log-prob r = 0.985
            against float32) but generation only by 11%.
    """

    model: Any
    tokenizer: Any
    name: str
    system_prompt: str | None = None
    autocast: str = "none"
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def precision(self) -> AbstractContextManager[Any]:
        """The autocast context forward passes run under (a no-op when autocast is off)."""
        if self.autocast not in ("auto", "bfloat16", "none"):
            raise AlignrunError(f"model.autocast must be auto, bfloat16 or none, got '{self.autocast}'")
        device = self.device.type
        if self.autocast == "none" or (self.autocast == "auto" and not bf16_native(device)):
            return contextlib.nullcontext()
        return torch.autocast(device_type=device, dtype=torch.bfloat16)

    def chat(self, prompts: list[str], systems: Sequence[str | None] | None = None) -> list[str]:
        """Format user prompts with the chat template, ready for the assistant's turn.

        Args:
            prompts: the user turns.
            systems: one system text per prompt (a role the model plays), put before
                ``system_prompt``; as if each prompt's own ``Role`` were applied first. Lets one
                batch mix roles, which prompt steering and value graphs rely on for speed.
        """
        if systems is not None and len(systems) != len(prompts):
            raise ValueError(f"{len(systems)} system texts for {len(prompts)} prompts")
        out = []
        for i, prompt in enumerate(prompts):
            messages = [{"role": "user", "content": prompt}]
            system = join_system(systems[i] if systems is not None else None, self.system_prompt)
            if system:
                messages.insert(0, {"role": "system", "content": system})
            out.append(
                self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            )
        return out

    @torch.inference_mode()
    def generate(
        self,
        prompts: list[str],
        cfg: GenerationConfig,
        seed: int = 0,
        systems: Sequence[str | None] | None = None,
    ) -> list[str]:
        """Answer each prompt; batched with left padding, special tokens stripped.

        Sampling is seeded per call so repeated evaluations of one model are comparable.
        ``systems`` gives each prompt its own system text (see :meth:`chat`).
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
                end = start + cfg.batch_size
                texts = self.chat(prompts[start:end], None if systems is None else systems[start:end])
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
                with self.precision():
                    out = self.model.generate(
                        **enc, max_new_tokens=cfg.max_new_tokens, pad_token_id=tok.pad_token_id, **sampling
                    )
                new_tokens = out[:, enc["input_ids"].shape[1] :]
                responses.extend(t.strip() for t in tok.batch_decode(new_tokens, skip_special_tokens=True))
        finally:
            self.model.train(was_training)
            torch.random.set_rng_state(generator_state)
        return responses

"""The model a run works on: a causal LM, its tokenizer, and how prompts are chat-formatted."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from alignrun.errors import AlignrunError
from alignrun.held_weights import HeldWeights
from alignrun.interventions import join_system
from alignrun.schema import GenerationConfig


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
        system_prompt: prepended as the system turn; prompt steering sets it temporarily
            (:func:`alignrun.interventions.appended_system_prompt`).
        user_rewrites: applied in order to every user prompt :meth:`chat` formats; user-prompt
            steering sets them temporarily (:func:`alignrun.interventions.rewritten_user_prompt`).
        autocast: ``auto`` (bf16 where the hardware computes it natively), ``bfloat16`` or
            ``none``; applies to generation and scoring forward passes. On a 2-core AVX512-BF16
            CPU it cut SmolLM2 questionnaire scoring from 21.8 s to 6.6 s (log-prob r = 0.985
            against float32) but generation only by 11%.
        decoding: a decoding-time composition, or None (one model): ``streams``, context managers
            ``stream(lm)`` each making the model one component (a PEFT adapter), and
            ``combine(logits) -> scores``, the next-token scores from the components' last-position
            logits. The ``fast`` engine runs every stream with its own KV cache at each step
            (:mod:`alignrun.generation.fast`); ``+method=mod`` sets it through its intervention.
        backend: the generation engine :meth:`generate` uses when its config names none
            (``generation.backend``: ``fast``, ``reference`` or ``module:function``; see
            :mod:`alignrun.generation`).
    """

    model: Any
    tokenizer: Any
    name: str
    system_prompt: str | None = None
    user_rewrites: list[Callable[[str], str]] = field(default_factory=list, repr=False)
    autocast: str = "none"
    backend: str = "fast"
    decoding: Any = None
    meta: dict[str, Any] = field(default_factory=dict)
    held: HeldWeights = field(default_factory=HeldWeights, repr=False)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @contextlib.contextmanager
    def precision(self, hold_weights: bool = True) -> Iterator[None]:
        """The autocast context forward passes run under (a no-op when autocast is off).

        ``hold_weights``: linear weights (with grad on, the frozen ones outside adapters) are held
        in bf16 instead of re-cast at every forward (:mod:`alignrun.held_weights`; bit-identical).
        The reference engine turns it off.
        """
        if self.autocast not in ("auto", "bfloat16", "none"):
            raise AlignrunError(f"model.autocast must be auto, bfloat16 or none, got '{self.autocast}'")
        device = self.device.type
        if self.autocast == "none" or (self.autocast == "auto" and not bf16_native(device)):
            yield
            return
        with contextlib.ExitStack() as stack:
            if hold_weights:
                stack.enter_context(self.held.apply(self.model))
            stack.enter_context(torch.autocast(device_type=device, dtype=torch.bfloat16))
            yield

    def chat(self, prompts: list[str], systems: Sequence[str | None] | None = None) -> list[str]:
        """Format user prompts with the chat template, ready for the assistant's turn.

        Args:
            prompts: the user turns (each passed through ``user_rewrites``).
            systems: one system text per prompt (a role the model plays), put before
                ``system_prompt``; as if each prompt's own ``Role`` were applied first. Lets one
                batch mix roles, which prompt steering and value graphs rely on for speed.
        """
        if systems is not None and len(systems) != len(prompts):
            raise ValueError(f"{len(systems)} system texts for {len(prompts)} prompts")
        out = []
        for i, prompt in enumerate(prompts):
            for rewrite in self.user_rewrites:
                prompt = rewrite(prompt)
            messages = [{"role": "user", "content": prompt}]
            system = join_system(systems[i] if systems is not None else None, self.system_prompt)
            if system:
                messages.insert(0, {"role": "system", "content": system})
            out.append(
                self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            )
        return out

    def generate(
        self,
        prompts: list[str],
        cfg: GenerationConfig,
        seed: int = 0,
        systems: Sequence[str | None] | None = None,
    ) -> list[str]:
        """Answer each prompt, special tokens stripped, with engine ``cfg.backend`` (else ``backend``).

        Sampling is seeded per call so repeated evaluations of one model are comparable.
        ``systems`` gives each prompt its own system text (see :meth:`chat`).
        """
        from alignrun.generation import engine

        backend = cfg.backend or self.backend
        if self.decoding is not None and backend != "fast":
            raise AlignrunError(
                f"decoding-time composition runs on generation.backend=fast only, not '{backend}'"
            )
        return engine(backend)(self, prompts, cfg, seed, systems)

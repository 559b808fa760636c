"""Linear weights held in bf16 while autocast runs, instead of re-cast at every forward pass.

Autocast casts an fp32 weight to bf16 at every matmul; it keeps the cast only for a leaf that
requires grad while grad is on. At inference every weight is therefore re-cast at each forward: for
SmolLM2 that was 22% of a batch-48 generation's CPU time and half of every batch-1 decoding step
(bench/generation.py --profile). A held copy has the same bf16 values (the same rounding), so a
forward's results are bit-identical; only the copies go. Forwards without grad (generation, scoring,
reference log-probs) hold every linear weight; a training step holds the frozen ones outside the
adapters (a LoRA step's base model: 5% of a SmolLM2 DPO micro-batch, gradients bit-identical), since
autocast re-casts those at every forward too.

A copy is swapped into its module (``module._parameters``) for the block and the fp32 parameter put
back on exit, so an embedding tied to ``lm_head`` stays fp32 and the residual stream keeps autocast's
dtypes. Copies are kept between blocks and remade when the parameter changes in place (its version
counter moves: an optimizer step, a merged adapter mix).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch


class HeldWeights:
    """The bf16 copies of one model's linear weights, made once and reused while unchanged."""

    def __init__(self) -> None:
        # by id: a tensor cannot key a WeakKeyDictionary (its == is elementwise)
        self._copies: dict[int, tuple[weakref.ref[torch.nn.Parameter], int, torch.nn.Parameter]] = {}

    def _copy(self, param: torch.nn.Parameter, dtype: torch.dtype) -> torch.nn.Parameter:
        held = self._copies.get(id(param))
        if held is not None and held[0]() is param and held[1] == param._version and held[2].dtype == dtype:
            return held[2]
        # made outside inference mode, so the copy is an ordinary tensor whichever block uses it next
        with torch.inference_mode(False), torch.no_grad():
            copy = torch.nn.Parameter(param.detach().to(dtype), requires_grad=False)
        self._copies[id(param)] = (weakref.ref(param), param._version, copy)
        return copy

    @contextmanager
    def apply(self, model: Any, dtype: torch.dtype = torch.bfloat16) -> Iterator[None]:
        """Inside the block every fp32 ``nn.Linear`` weight and bias is ``dtype`` — when grad is off.

        With grad on (a training step) only frozen weights outside LoRA modules are held: trained
        weights are autocast's to cast, and code inside a step may read adapters directly — MVA's
        decorrelation penalty computes each frozen earlier adapter's ``B·A``, and holding those
        changed its value (measured: the second and third MVA adapters then differed from
        autocast's, the first, penalty-free, was bit-equal).
        """
        training = torch.is_grad_enabled()
        self._copies = {k: v for k, v in self._copies.items() if v[0]() is not None}  # models gone
        swapped: list[tuple[torch.nn.Module, str, torch.nn.Parameter]] = []
        try:
            for path, module in model.named_modules():
                if not isinstance(module, torch.nn.Linear):
                    continue
                if training and ".lora_" in f".{path}":  # adapters: trained, or read by a penalty
                    continue
                for name in ("weight", "bias"):
                    param = module._parameters.get(name)
                    if param is None or param.dtype != torch.float32 or (training and param.requires_grad):
                        continue
                    module._parameters[name] = self._copy(param, dtype)
                    swapped.append((module, name, param))
            yield
        finally:
            for module, name, param in reversed(swapped):
                module._parameters[name] = param

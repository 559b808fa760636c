"""The decoding-time composition ``+method=mod`` evaluates: per-value models combined at each token.

MOD (Shi et al., "Decoding-Time Language Model Alignment with Multiple Objectives", NeurIPS 2024,
arXiv 2406.18853): for policies ``π_i`` each aligned to one reward under the same KL regularisation
toward a reference, the policy optimal for ``Σ_i w_i r_i`` with ``Σ_i w_i = 1`` is the weighted
geometric mean ``π(y | x) ∝ Π_i π_i(y | x)^{w_i}``, decoded token by token: the next-token scores are
``Σ_i w_i log π_i(· | prefix)``. (Mixing raw logits, ``Σ_i w_i z_i``, is the same rule: each model's
log-normaliser is constant over the vocabulary and cancels in the softmax.) The other rule offered,
``mixture``, is an ensemble's ``log Σ_i w_i π_i``: linear in probabilities, not derived from the
objective. Weights lie on the simplex; a zero-weight component is not run at all.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING

from alignrun.errors import AlignrunError

if TYPE_CHECKING:
    import torch

    from alignrun.lm import LM

RULES = ("mod", "mixture")


def combine(logits: Sequence[torch.Tensor], weights: Sequence[float], rule: str) -> torch.Tensor:
    """Next-token scores (log-probabilities, up to a constant per row) of the combined policy.

    Args:
        logits: one ``[batch, vocab]`` tensor per component.
        weights: their weights, > 0, summing to 1.
        rule: ``mod`` (``Σ w_i log π_i``) or ``mixture`` (``log Σ w_i π_i``).
    """
    import torch

    logp = [torch.log_softmax(z.float(), dim=-1) for z in logits]
    if rule == "mod":
        return torch.stack([w * lp for w, lp in zip(weights, logp, strict=True)]).sum(dim=0)
    if rule == "mixture":
        return torch.logsumexp(
            torch.stack([lp + math.log(w) for w, lp in zip(weights, logp, strict=True)]), dim=0
        )
    raise AlignrunError(f"method.rule must be one of {', '.join(RULES)}, got '{rule}'")


class Composition:
    """An Intervention: ``lm`` decodes as the composition of its PEFT adapters under ``weights``.

    Sets ``lm.decoding`` inside the block (the fast engine runs each adapter as a stream with its
    own KV cache); restores it on exit. Costs one forward per non-zero weight per token.
    """

    def __init__(self, weights: Mapping[str, float], rule: str = "mod") -> None:
        if rule not in RULES:
            raise AlignrunError(f"method.rule must be one of {', '.join(RULES)}, got '{rule}'")
        if any(w < 0 for w in weights.values()) or abs(sum(weights.values()) - 1) > 1e-6:
            raise AlignrunError(f"MOD weights must be >= 0 and sum to 1, got {dict(weights)}")
        self.weights = {n: float(w) for n, w in weights.items() if w > 0}
        self.rule = rule
        self.name = "mod" if rule == "mod" else "mod-mixture"

    @property
    def streams(self) -> list[Callable[[LM], AbstractContextManager[None]]]:
        return [adapter_stream(n) for n in self.weights]

    def combine(self, logits: Sequence[torch.Tensor]) -> torch.Tensor:
        return combine(logits, list(self.weights.values()), self.rule)

    @contextmanager
    def apply(self, lm: LM) -> Iterator[LM]:
        previous = lm.decoding
        lm.decoding = self
        try:
            yield lm
        finally:
            lm.decoding = previous


def adapter_stream(name: str) -> Callable[[LM], AbstractContextManager[None]]:
    """A stream that runs the model as base + adapter ``name`` alone."""

    def stream(lm: LM) -> AbstractContextManager[None]:
        from alignrun.lib.training.adapters import mixed

        return mixed(lm.model, {name: 1.0})

    return stream

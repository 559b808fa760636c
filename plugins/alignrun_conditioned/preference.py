"""The preference vector inside the adapter: Panacea's singular values, on a PEFT LoRA.

Panacea (Zhong et al., "Panacea: Pareto Alignment via Preference Adaptation for LLMs", NeurIPS 2024,
arXiv 2402.02030) writes the update as ``ΔW = U diag(σ_1..σ_k, λ_1..λ_m) Vᵀ``: ``k`` learned singular
directions shared by every trade-off, and ``m`` more, one per value, whose singular values *are* the
preference vector ``λ`` (on the simplex). Here the LoRA update ``B·A`` of rank ``k + m`` is gated the
same way: the output of ``A`` is multiplied by ``g = (1, ..., 1, λ_1, ..., λ_m)``, so
``ΔW(λ) = B diag(g) A``. (Panacea also learns a per-layer scale for ``λ``; here ``B``'s last ``m``
columns absorb it.) The gate is a forward hook on every ``lora_A`` of the adapter: it acts whenever the
adapter is active, unfolded; folding the adapter into the weights would drop it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import torch

from alignrun.errors import AlignrunError

if TYPE_CHECKING:
    from alignrun.lm import LM


class PreferenceGate:
    """Gates the last ``len(values)`` rank dimensions of adapter ``name`` by the preference vector."""

    def __init__(self, model: Any, name: str, values: Sequence[str], shared_rank: int) -> None:
        from alignrun.lib.training.adapters import lora_layers

        self.values, self.shared_rank = list(values), shared_rank
        self.preference = torch.full((len(values),), 1.0 / len(values))
        self.handles = [
            layer.lora_A[name].register_forward_hook(self._gate)
            for layer in lora_layers(model)
            if name in layer.lora_A
        ]
        if not self.handles:
            raise AlignrunError(f"adapter '{name}' has no LoRA layers to condition")

    def _gate(self, module: Any, inputs: Any, output: torch.Tensor) -> torch.Tensor:
        gate = torch.cat([output.new_ones(self.shared_rank), self.preference.to(output)])
        return output * gate

    def set(self, weights: Mapping[str, float]) -> None:
        """Condition on ``weights`` (value -> weight, on the simplex)."""
        w = [float(weights.get(v, 0.0)) for v in self.values]
        if any(x < 0 for x in w) or abs(sum(w) - 1) > 1e-6 or set(weights) - set(self.values):
            raise AlignrunError(
                f"a preference vector over {self.values} must be >= 0 and sum to 1, got {dict(weights)}"
            )
        self.preference = torch.tensor(w, dtype=torch.float32)

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


def sampled_preference(m: int, step: int, seed: int) -> list[float]:
    """A preference vector drawn uniformly from the simplex (Dirichlet(1, ..., 1)), seeded by step."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + step)
    x = -torch.rand(m, generator=g, dtype=torch.float64).log()  # Exp(1) draws, normalised: Dirichlet(1)
    return (x / x.sum()).tolist()


class Preference:
    """An Intervention: the conditioned adapter, active alone, under preference ``weights``."""

    def __init__(self, gate: PreferenceGate, name: str, weights: Mapping[str, float]) -> None:
        self.gate, self.adapter = gate, name
        self.weights = {v: float(weights[v]) for v in gate.values}
        self.name = "conditioned"

    @contextmanager
    def apply(self, lm: LM) -> Iterator[LM]:
        from alignrun.lib.training.adapters import mixed

        previous = self.gate.preference
        self.gate.set(self.weights)
        try:
            with mixed(lm.model, {self.adapter: 1.0}):
                yield lm
        finally:
            self.gate.preference = previous

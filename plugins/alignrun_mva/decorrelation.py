"""MVA's value-decorrelation penalty between the adapter being trained and the frozen earlier ones.

``method.decorrelation`` picks what is compared, per adapted module; ``method.reduce`` combines the
modules — ``mean`` (default: ``alpha`` means the same on a 4-module toy and a 224-module 8B model) or
``sum`` (the authors' code: the pressure grows with the module count, 120× the mean on SmolLM2's 120
attention projections) — and the terms are summed over the earlier values:

- ``delta_w`` (default): HSIC between the rows of the two value vectors' actual updates
  ``ΔW = s·B A`` (``s = lora_alpha / r``). Row ``a`` is output unit ``a``'s update, a canonical
  pairing shared by both vectors. The Gram matrices come from the low-rank factors
  (:func:`~alignrun_mva.hsic.lowrank_row_gram`); ``max_samples`` caps the rows used (a fixed
  seeded subset, the same for both vectors) so 4096-wide projections stay cheap.
- ``lora_a``: the authors' released approximation — HSIC between the rows of the two LoRA-A
  matrices (``r`` samples of dimension ``d_in``). LoRA's rank components have no canonical
  order (permuting them leaves ``ΔW`` unchanged), so this pairing is arbitrary; kept for
  comparison.
- ``orthogonal``: ablation without HSIC — O-LoRA's subspace penalty (Wang et al. 2023)
  ``‖A_i A_jᵀ‖_F²``: the two adapters' input subspaces made orthogonal.
- ``none``: no penalty; MVA is then plain per-value DPO, vector by vector.

The penalty is computed in float32 with autocast off whatever the training precision: squared
distances ``G_aa + G_bb - 2 G_ab`` cancel catastrophically in bfloat16.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from alignrun.lib.training.adapters import lora_layers
from alignrun_mva.hsic import Bandwidth, centred, hsic_from_kernels, lowrank_row_gram, rbf_from_gram

ESTIMATORS = ("delta_w", "lora_a", "orthogonal", "none")
REDUCTIONS = ("mean", "sum")


@dataclass
class Factors:
    """One adapter's LoRA factors in one module: ``ΔW = scale · b @ a``."""

    a: torch.Tensor  # [r, d_in]
    b: torch.Tensor  # [d_out, r]
    scale: float


def factors(layer: Any, name: str) -> Factors:
    """Adapter ``name``'s factors in a PEFT ``LoraLayer`` (scale from its config, not the live
    ``scaling`` dict, which an active ``mixed()`` block may have rescaled)."""
    return Factors(
        a=layer.lora_A[name].weight.float(),
        b=layer.lora_B[name].weight.float(),
        scale=float(layer.lora_alpha[name]) / float(layer.r[name]),
    )


class Decorrelation:
    """The penalty ``Σ_{j<i} reduce_modules D(θ_i, θ_j)`` over a PEFT model's LoRA layers.

    Args:
        model: the PEFT model holding every value's adapter.
        estimator: one of :data:`ESTIMATORS`.
        bandwidth: RBF bandwidth σ, or ``"median"`` (per kernel matrix, see :mod:`alignrun_mva.hsic`).
        max_samples: ``delta_w`` uses at most this many output rows per module (None: all).
        seed: picks those rows.
        reduce: one of :data:`REDUCTIONS`: how the modules' terms combine.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        estimator: str = "delta_w",
        bandwidth: Bandwidth = "median",
        max_samples: int | None = 1024,
        seed: int = 0,
        reduce: str = "mean",
    ) -> None:
        if estimator not in ESTIMATORS:
            raise ValueError(f"decorrelation must be one of {', '.join(ESTIMATORS)}, got '{estimator}'")
        if reduce not in REDUCTIONS:
            raise ValueError(f"reduce must be one of {', '.join(REDUCTIONS)}, got '{reduce}'")
        self.estimator, self.bandwidth, self.reduce = estimator, bandwidth, reduce
        self.layers: list[Any] = list(lora_layers(model))
        gen = torch.Generator().manual_seed(seed)
        self.rows: list[torch.Tensor | None] = []
        for layer in self.layers:
            d_out = layer.out_features
            keep = max_samples is not None and d_out > max_samples
            self.rows.append(
                torch.randperm(d_out, generator=gen)[:max_samples].sort().values if keep else None
            )
        self._frozen: dict[tuple[int, str], torch.Tensor] = {}  # centred kernels of frozen vectors

    def _kernel(self, i: int, f: Factors) -> torch.Tensor:
        if self.estimator == "delta_w":
            rows = self.rows[i]
            gram = lowrank_row_gram(f.b, f.a, f.scale, None if rows is None else rows.to(f.b.device))
        else:  # lora_a: the rows of A are the samples
            gram = f.a @ f.a.T
        return rbf_from_gram(gram, self.bandwidth)

    def _frozen_kernel(self, i: int, name: str) -> torch.Tensor:
        key = (i, name)
        if key not in self._frozen:  # frozen for the rest of the run: compute once
            with torch.no_grad():
                self._frozen[key] = centred(self._kernel(i, factors(self.layers[i], name)))
        return self._frozen[key]

    def module_term(self, i: int, current: str | Factors, other: str) -> torch.Tensor:
        """The estimator between ``current`` (differentiable; an adapter's name, or given factors such
        as its initial ones) and frozen ``other`` in layer ``i``."""
        layer = self.layers[i]
        mine = factors(layer, current) if isinstance(current, str) else current
        if self.estimator == "orthogonal":
            return (mine.a @ factors(layer, other).a.detach().T).pow(2).sum()
        return hsic_from_kernels(self._kernel(i, mine), self._frozen_kernel(i, other))

    def module_terms(self, current: str, other: str) -> torch.Tensor:
        """``[modules]``: the estimator between ``current`` and frozen ``other`` in every layer."""
        return torch.stack([self.module_term(i, current, other) for i in range(len(self.layers))])

    def penalty(self, current: str, frozen: Sequence[str]) -> torch.Tensor:
        """Scalar penalty for training ``current`` against the ``frozen`` earlier adapters.

        Gradients reach only ``current``'s factors: the frozen side is computed without grad.
        """
        device = self.layers[0].lora_A[current].weight.device
        total = torch.zeros((), device=device)
        if self.estimator == "none" or not frozen:
            return total
        with torch.autocast(device_type=device.type, enabled=False):
            for other in frozen:
                terms = self.module_terms(current, other)
                total = total + (terms.sum() if self.reduce == "sum" else terms.mean())
        return total


@torch.no_grad()
def pairwise(
    model: torch.nn.Module, names: Sequence[str], estimator: str, bandwidth: Bandwidth = "median"
) -> dict[str, float]:
    """``{"<a>~<b>": mean-over-modules estimator}`` for every pair of trained adapters (a diagnostic
    reported whichever estimator trained them)."""
    probe = Decorrelation(model, estimator, bandwidth)
    out: dict[str, float] = {}
    for k, a in enumerate(names):
        for b in names[k + 1 :]:
            out[f"{a}~{b}"] = float(probe.penalty(b, [a]))
    return out

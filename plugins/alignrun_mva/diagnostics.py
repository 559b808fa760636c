"""Did the decorrelation act? Per value vector and adapted module, measured after training.

A penalty that never moves the vectors is a result to report, not to hide (issue 34: at alignrun's
default budget LoRA's A hardly leaves its initialisation, so there is little dependence to remove).
For every value, in every module:

- ``a_moved``: ``‖A − A₀‖_F / ‖A₀‖_F``, how far LoRA's A left its random initialisation (the authors'
  ``lora_a`` penalty acts on A only through this);
- ``delta_w``: ``‖ΔW‖_F = s·‖B A‖_F``, the size of the update the vector makes (0 at initialisation);

and for every later value ``b`` against each earlier ``a`` the training estimator ``D(θ_b, θ_a)``
``before`` (``b`` at its initialisation, ``a`` trained: the penalty at ``b``'s first step) and
``after`` (both trained). ``mva/diagnostics.json`` keeps every module; the metrics keep the means and
the penalty reduced as training reduced it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from alignrun_mva.decorrelation import Decorrelation, Factors, factors

Initial = dict[str, list[Factors]]  # value -> its factors in every LoRA layer, before training


@torch.no_grad()
def snapshot(model: Any, names: Sequence[str]) -> Initial:
    """Every value's factors in every LoRA layer, copied: take it after the adapters are attached and
    before any trains."""
    from alignrun.lib.training.adapters import lora_layers

    layers = list(lora_layers(model))
    return {n: [_copy(factors(layer, n)) for layer in layers] for n in names}


def _copy(f: Factors) -> Factors:
    return Factors(a=f.a.detach().clone(), b=f.b.detach().clone(), scale=f.scale)


def _fro(t: torch.Tensor) -> float:
    return float(torch.linalg.matrix_norm(t))


def delta_w_norm(f: Factors) -> float:
    """``‖s·B A‖_F`` from the factors (``‖BA‖_F² = tr(BᵀB · AAᵀ)``), never forming ``ΔW``."""
    inner = (f.b.T @ f.b) * (f.a @ f.a.T)  # elementwise: Σ_ij (BᵀB)_ij (AAᵀ)_ij = tr(BᵀB AAᵀ)
    return f.scale * float(inner.sum().clamp_min(0).sqrt())


@torch.no_grad()
def report(model: Any, names: Sequence[str], initial: Initial, probe: Decorrelation) -> dict[str, Any]:
    """The per-module evidence (JSON-ready) for trained value vectors ``names`` (training order).

    ``probe`` is a :class:`Decorrelation` over ``model`` with the run's estimator, bandwidth and
    reduction (``none`` measures with ``delta_w``: there is still dependence to report).
    """
    modules = [n for n, m in model.named_modules() if m in set(probe.layers)]
    values: dict[str, Any] = {}
    for n in names:
        now = [factors(layer, n) for layer in probe.layers]
        values[n] = {
            "a_moved": [
                _fro(f.a - f0.a) / max(_fro(f0.a), 1e-12) for f, f0 in zip(now, initial[n], strict=True)
            ],
            "delta_w": [delta_w_norm(f) for f in now],
        }
    pairs: dict[str, Any] = {}
    with torch.autocast(device_type="cpu", enabled=False):
        for k, a in enumerate(names):
            for b in names[k + 1 :]:
                before = [probe.module_term(i, initial[b][i], a) for i in range(len(probe.layers))]
                after = probe.module_terms(b, a)
                pairs[f"{a}~{b}"] = {"before": [float(t) for t in before], "after": after.tolist()}
    return {
        "estimator": probe.estimator,
        "bandwidth": probe.bandwidth,
        "reduce": probe.reduce,
        "modules": modules,
        "values": values,
        "pairs": pairs,
    }


def summary(evidence: dict[str, Any]) -> dict[str, float]:
    """``mva/...`` metrics from :func:`report`: per value the module means of ``a_moved`` and
    ``delta_w``; per pair the penalty before and after, reduced over modules as training did."""

    def reduce(terms: list[float]) -> float:
        return float(sum(terms)) if evidence["reduce"] == "sum" else float(sum(terms) / max(len(terms), 1))

    out: dict[str, float] = {}
    for v, d in evidence["values"].items():
        out[f"mva/a_moved/{v}"] = sum(d["a_moved"]) / max(len(d["a_moved"]), 1)
        out[f"mva/delta_w_norm/{v}"] = sum(d["delta_w"]) / max(len(d["delta_w"]), 1)
    for pair, d in evidence["pairs"].items():
        out[f"mva/penalty_before/{pair}"] = reduce(d["before"])
        out[f"mva/penalty_after/{pair}"] = reduce(d["after"])
    return out

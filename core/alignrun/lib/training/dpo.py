"""The DPO objective over one value's preference pairs, with reference log-probs computed once.

Used by ``+method=dpo`` (every variant), MOD and the conditioned model, and by MVA, which adds its
decorrelation penalty. ``method.loss`` picks DPO, length-regularised R-DPO or SimPO
(:mod:`alignrun.lib.training.losses`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from alignrun.lib.training.batching import encode_pairs
from alignrun.lib.training.logprobs import sequence_logps
from alignrun.lib.training.losses import LossSettings, preference_loss
from alignrun.lib.training.trainer import LossFn, TrainSettings, batch_indices
from alignrun.lm import LM


@dataclass
class PreferenceSet:
    """One value's training pairs and their reference log-probs ``[n, 2]`` (chosen, rejected)."""

    name: str
    rows: list[dict[str, str]]
    reference: torch.Tensor


@torch.no_grad()
def reference_logps(lm: LM, rows: Sequence[dict[str, str]], settings: TrainSettings) -> torch.Tensor:
    """``[n, 2]`` summed response log-probs under the base model (every adapter disabled).

    Computed once per value before training: the reference never changes, so each step
    needs only the policy's forward pass.
    """
    model = lm.model
    disabled = model.disable_adapter() if hasattr(model, "disable_adapter") else torch.no_grad()
    was_training = model.training
    model.eval()
    # similar lengths batched together: less padding per micro-batch
    order = sorted(
        range(len(rows)),
        key=lambda i: len(rows[i]["prompt"]) + max(len(rows[i]["chosen"]), len(rows[i]["rejected"])),
    )
    out = torch.zeros(len(rows), 2)
    try:
        with disabled, lm.precision():
            for start in range(0, len(rows), settings.micro_batch_size):
                ids = order[start : start + settings.micro_batch_size]
                batch = encode_pairs(lm, [rows[i] for i in ids], settings.max_length).to(lm.device)
                logps = sequence_logps(model, batch).float().cpu()
                out[ids] = torch.stack([logps[: len(ids)], logps[len(ids) :]], dim=1)
    finally:
        model.train(was_training)
    return out


def preference_set(
    lm: LM, name: str, pairs: Any, settings: TrainSettings, loss: LossSettings | None = None
) -> PreferenceSet:
    """One value's pairs with their reference log-probs (zeros for a loss that reads none: SimPO)."""
    rows = [{k: r[k] for k in ("prompt", "chosen", "rejected")} for r in pairs]
    needed = loss is None or loss.needs_reference
    return PreferenceSet(
        name, rows, reference_logps(lm, rows, settings) if needed else torch.zeros(len(rows), 2)
    )


def dpo_objective(
    lm: LM,
    sets: Sequence[tuple[PreferenceSet, float]],
    beta: float,
    settings: TrainSettings,
    seed: int,
    loss: LossSettings | None = None,
) -> LossFn:
    """``loss_fn`` for :class:`Trainer`: ``Σ_v w_v · mean preference loss`` over each set's batch positions.

    Each set draws its own seeded batch order; with one set of weight 1 and ``loss`` None (or
    ``kind=dpo``) this is plain DPO.
    """
    loss_settings = loss or LossSettings()

    def loss_fn(step: int, start: int, stop: int) -> tuple[torch.Tensor, dict[str, float]]:
        total = torch.zeros((), device=lm.device)
        metrics: dict[str, float] = {}
        for k, (data, weight) in enumerate(sets):
            ids = batch_indices(len(data.rows), step, settings.batch_size, seed + 7919 * k)[start:stop]
            batch = encode_pairs(lm, [data.rows[i] for i in ids], settings.max_length).to(lm.device)
            logps = sequence_logps(lm.model, batch)
            ref = data.reference[ids].to(lm.device)
            tokens = batch.response_mask.sum(1)  # |y|: the response's tokens, end-of-turn included
            b = len(ids)
            loss, chosen, rejected = preference_loss(
                loss_settings,
                beta,
                (logps[:b], logps[b:]),
                (ref[:, 0], ref[:, 1]),
                (tokens[:b], tokens[b:]),
            )
            scale = 1.0 / settings.batch_size  # summed over micro-batches and ranks -> the batch mean
            total = total + weight * loss.sum() * scale
            tag = f"{data.name}/" if len(sets) > 1 else ""
            metrics[f"{tag}loss"] = float(loss.detach().sum()) * scale
            metrics[f"{tag}reward_margin"] = float((chosen - rejected).sum()) * scale
            metrics[f"{tag}accuracy"] = float((chosen > rejected).float().sum()) * scale
        return total, metrics

    return loss_fn

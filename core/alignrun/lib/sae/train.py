"""Train a TopK SAE on cached residual-stream activations (a loop that fits on a screen).

Per step: a seeded random batch of token activations, scaled so that ``E‖x‖ = sqrt(d_in)`` (the
scale is folded back into the weights at the end, so the saved SAE reads raw activations), the loss
of :func:`alignrun.lib.sae.model.topk_loss` with the features that have not fired for ``dead_window``
steps as AuxK's dead set, Adam, gradient clipping at 1, then decoder rows back to unit norm with
their parallel gradient removed. Learning rate: constant, linearly to 0 over the last 20% of steps.
Metrics on held-out tokens: explained variance ``1 - E‖x - x̂‖² / E‖x - E x‖²``, L0 (mean active
features per token) and the dead fraction (features that never fire on them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from alignrun.errors import AlignrunError
from alignrun.lib.sae.model import SparseAutoencoder, topk_loss


@dataclass
class SAETraining:
    """``method.sae.training``: the SAE's size and budget.

    Args:
        expansion: ``d_sae = expansion * d_model`` features.
        k: active features per token (the L0 TopK enforces).
        steps: optimizer steps.
        batch_size: tokens per step.
        lr: Adam's learning rate.
        aux_coeff: weight of the AuxK loss that revives dead features (Gao et al.: 1/32).
        dead_window: steps without firing after which a feature counts as dead for AuxK.
        held_out: share of tokens kept out of training for the metrics.
        seed: initialisation and batch order.
    """

    expansion: int = 4
    k: int = 32
    steps: int = 2000
    batch_size: int = 1024
    lr: float = 4e-4
    aux_coeff: float = 1 / 32
    dead_window: int = 250
    held_out: float = 0.05
    seed: int = 0

    def __post_init__(self) -> None:
        if min(self.expansion, self.k, self.steps, self.batch_size) < 1 or not 0 < self.held_out < 1:
            raise AlignrunError(
                "sae.training: expansion, k, steps, batch_size must be positive, held_out in (0, 1)"
            )


def fold_input_scale(sae: SparseAutoencoder, scale: float) -> None:
    """Turn an SAE trained on ``x * scale`` into one on ``x`` (same features up to a factor ``1/scale``)."""
    with torch.no_grad():
        sae.W_enc.mul_(scale)
        sae.b_dec.div_(scale)
        sae.W_dec.div_(scale)
    sae.normalize_decoder()


@torch.no_grad()
def sae_metrics(sae: SparseAutoencoder, x: torch.Tensor, batch_size: int = 4096) -> dict[str, float]:
    """Explained variance, L0 and dead-feature fraction of ``sae`` on activations ``x`` ``[n, d_in]``."""
    err = total = l0 = 0.0
    fired = torch.zeros(sae.d_sae, dtype=torch.bool)
    mean = x.mean(0)
    for start in range(0, len(x), batch_size):
        xb = x[start : start + batch_size]
        f = sae.encode(xb)
        err += float((xb - sae.decode(f)).pow(2).sum())
        total += float((xb - mean).pow(2).sum())
        l0 += float((f != 0).sum())
        fired |= (f != 0).any(0)
    return {
        "explained_variance": 1 - err / max(total, 1e-12),
        "l0": l0 / max(len(x), 1),
        "dead_fraction": 1 - float(fired.float().mean()),
    }


def train_sae(
    acts: torch.Tensor, cfg: SAETraining, progress: bool = True
) -> tuple[SparseAutoencoder, dict[str, float]]:
    """Fit a TopK SAE to ``acts`` ``[n_tokens, d_in]``; returns it and its held-out metrics.

    Raises:
        AlignrunError: too few tokens, or a non-finite loss.
    """
    if acts.dim() != 2 or len(acts) < 100:
        raise AlignrunError(f"an SAE needs at least 100 token activations, got {tuple(acts.shape)}")
    g = torch.Generator().manual_seed(cfg.seed)
    order = torch.randperm(len(acts), generator=g)
    n_eval = max(1, int(len(acts) * cfg.held_out))
    train, test = acts[order[n_eval:]].float(), acts[order[:n_eval]].float()
    scale = math.sqrt(train.shape[1]) / float(train.norm(dim=1).mean().clamp(min=1e-8))
    d_in = train.shape[1]
    sae = SparseAutoencoder(d_in, cfg.expansion * d_in, min(cfg.k, cfg.expansion * d_in), "topk")
    sae.init_weights(train[:8192] * scale, seed=cfg.seed)
    opt = torch.optim.Adam(sae.parameters(), lr=cfg.lr)
    since_fired = torch.zeros(sae.d_sae, dtype=torch.long)
    decay_from = int(cfg.steps * 0.8)
    bar = tqdm(range(cfg.steps), desc="sae", disable=not progress)
    for step in bar:
        for group in opt.param_groups:  # constant, then linearly to 0 over the last 20%
            group["lr"] = cfg.lr * min(1.0, (cfg.steps - step) / max(1, cfg.steps - decay_from))
        batch = train[torch.randint(len(train), (cfg.batch_size,), generator=g)] * scale
        loss, f, _ = topk_loss(sae, batch, since_fired >= cfg.dead_window, cfg.aux_coeff)
        if not torch.isfinite(loss):
            raise AlignrunError(
                f"SAE training diverged at step {step} (loss {float(loss)}); lower sae.training.lr"
            )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        sae.project_decoder_grads()
        torch.nn.utils.clip_grad_norm_(sae.parameters(), 1.0)
        opt.step()
        sae.normalize_decoder()
        fired = (f != 0).any(0)
        since_fired = torch.where(fired, torch.zeros_like(since_fired), since_fired + 1)
        if step % 100 == 0:
            bar.set_postfix(loss=f"{loss.item():.3g}")
    fold_input_scale(sae, scale)
    return sae, {**sae_metrics(sae, test), "tokens": float(len(train)), "held_out_tokens": float(n_eval)}

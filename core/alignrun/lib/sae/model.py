"""A TopK sparse autoencoder (Gao et al. 2024, "Scaling and evaluating sparse autoencoders").

Why TopK rather than ReLU + L1: the sparsity (L0 = k) is set directly instead of through an L1
coefficient that has to be tuned per model and layer — on a training budget of minutes there is no
room for that sweep — L1 shrinks every active feature towards zero, and with the auxiliary loss
below TopK leaves few dead features. Loading also accepts SAELens's ``standard`` (ReLU) and
``jumprelu`` (Gemma Scope: ``f = ReLU(h) · [h > threshold]``) SAEs.

Shapes (SAELens's names): ``W_enc [d_in, d_sae]``, ``W_dec [d_sae, d_in]``, ``b_enc [d_sae]``,
``b_dec [d_in]``. Encode ``f = scatter(topk(h, k), ReLU)`` with ``h = (x - b_dec) W_enc + b_enc``
(top-k on the pre-activations, then ReLU, as SAELens); decode ``x̂ = f W_dec + b_dec``. Decoder rows
are kept at unit norm, so a steering coefficient means the same for every feature.
"""

from __future__ import annotations

import torch
from torch import nn

ARCHITECTURES = ("topk", "standard", "jumprelu")


class SparseAutoencoder(nn.Module):
    """``architecture`` ``topk`` (keep the ``k`` largest pre-activations), ``standard`` (ReLU) or
    ``jumprelu`` (ReLU, and zero below a per-feature ``threshold [d_sae]``)."""

    def __init__(self, d_in: int, d_sae: int, k: int | None = None, architecture: str = "topk") -> None:
        super().__init__()
        if architecture not in ARCHITECTURES:
            raise ValueError(f"SAE architecture must be one of {ARCHITECTURES}, got {architecture!r}")
        if architecture == "topk" and not (k and 0 < k <= d_sae):
            raise ValueError(f"a TopK SAE needs 0 < k <= d_sae ({d_sae}), got k={k}")
        self.d_in, self.d_sae, self.k, self.architecture = d_in, d_sae, k, architecture
        self.W_enc = nn.Parameter(torch.zeros(d_in, d_sae))
        self.W_dec = nn.Parameter(torch.zeros(d_sae, d_in))
        self.b_enc = nn.Parameter(torch.zeros(d_sae))
        self.b_dec = nn.Parameter(torch.zeros(d_in))
        if architecture == "jumprelu":
            self.threshold = nn.Parameter(torch.zeros(d_sae))

    def init_weights(self, sample: torch.Tensor | None = None, seed: int = 0) -> None:
        """Random unit-norm decoder rows, ``W_enc = W_decᵀ``, ``b_dec`` = the sample's mean (if given)."""
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            w = torch.randn(self.d_sae, self.d_in, generator=g)
            self.W_dec.copy_(w / w.norm(dim=1, keepdim=True))
            self.W_enc.copy_(self.W_dec.T)
            self.b_enc.zero_()
            self.b_dec.copy_(sample.float().mean(0) if sample is not None else torch.zeros(self.d_in))

    def pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        """``[..., d_in] -> [..., d_sae]``: ``(x - b_dec) W_enc + b_enc``."""
        return (x - self.b_dec) @ self.W_enc + self.b_enc

    def activate(self, h: torch.Tensor) -> torch.Tensor:
        if self.architecture == "standard":
            return torch.relu(h)
        if self.architecture == "jumprelu":
            return torch.relu(h) * (h > self.threshold)
        top = h.topk(int(self.k or 1), dim=-1)
        return torch.zeros_like(h).scatter_(-1, top.indices, torch.relu(top.values))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """``[..., d_in] -> [..., d_sae]`` feature activations (at most ``k`` non-zero for TopK)."""
        return self.activate(self.pre_activations(x))

    def decode(self, f: torch.Tensor) -> torch.Tensor:
        """``[..., d_sae] -> [..., d_in]``."""
        return f @ self.W_dec + self.b_dec

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    @torch.no_grad()
    def normalize_decoder(self) -> None:
        """Rescale decoder rows to unit norm, folding the norms into the encoder so outputs do not change."""
        norms = self.W_dec.norm(dim=1).clamp(min=1e-8)
        self.W_dec.div_(norms[:, None])
        self.W_enc.mul_(norms[None, :])
        self.b_enc.mul_(norms)
        if self.architecture == "jumprelu":
            self.threshold.mul_(norms)  # pre-activations scale with the norms, so must the cut-off

    @torch.no_grad()
    def project_decoder_grads(self) -> None:
        """Remove each decoder row's gradient component along the row (keeps unit norm to first order)."""
        if self.W_dec.grad is not None:
            w = self.W_dec / self.W_dec.norm(dim=1, keepdim=True).clamp(min=1e-8)
            self.W_dec.grad -= (self.W_dec.grad * w).sum(1, keepdim=True) * w


def topk_loss(
    sae: SparseAutoencoder, x: torch.Tensor, dead: torch.Tensor | None = None, aux_coeff: float = 1 / 32
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Reconstruction MSE plus Gao et al.'s AuxK loss; returns ``(loss, f, x̂)``.

    ``mse = mean_b ‖x - x̂‖²``. AuxK: with ``e = x - x̂`` (detached), the ``k_aux = d_in // 2`` largest
    pre-activations among the ``dead`` features reconstruct ``ê = f_aux W_dec`` (no bias), and
    ``aux = ‖e - ê‖² / ‖e‖²`` is added with weight ``aux_coeff`` — it gives dead features a gradient
    towards the error nobody explains.
    """
    h = sae.pre_activations(x)
    f = sae.activate(h)
    x_hat = sae.decode(f)
    err = x - x_hat
    loss = err.pow(2).sum(-1).mean()
    if dead is not None and bool(dead.any()) and aux_coeff > 0:
        k_aux = min(sae.d_in // 2, int(dead.sum()))
        masked = h.masked_fill(~dead, float("-inf"))
        top = masked.topk(k_aux, dim=-1)
        f_aux = torch.zeros_like(h).scatter_(-1, top.indices, torch.relu(top.values))
        e = err.detach()
        aux = (e - f_aux @ sae.W_dec).pow(2).sum(-1).mean() / e.pow(2).sum(-1).mean().clamp(min=1e-8)
        loss = loss + aux_coeff * aux
    return loss, f, x_hat

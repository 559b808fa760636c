"""The Hilbert–Schmidt Independence Criterion (HSIC) with RBF kernels, as pure functions.

Biased estimator (Gretton et al. 2005, "Measuring statistical dependence with Hilbert-Schmidt
norms", eq. 4, normalised by ``n²`` as in the MVA paper): for paired samples
``(x_a, y_a)``, ``a = 1..n``, with kernel matrices ``K_ab = k(x_a, x_b)``, ``L_ab = l(y_a, y_b)``
and the centring matrix ``H = I - 11ᵀ/n``,

    HSIC(X, Y) = tr(K H L H) / n².

Because ``H`` is symmetric and idempotent, ``tr(KHLH) = Σ_ab K_ab (HLH)_ab``: only one of the
two kernel matrices needs centring, which is O(n²) instead of two O(n³) products. MVA centres
the frozen earlier value vector's kernel and leaves the trained one's as is.

Every kernel here is built from a Gram matrix ``G = X Xᵀ`` (squared distances
``D_ab = G_aa + G_bb - 2 G_ab``), so callers that know a cheaper form of ``G`` — MVA's low-rank
``ΔW = s·B A``, see :func:`lowrank_row_gram` — never form the samples themselves.

Bandwidth: a number ``σ`` gives ``k(x, x') = exp(-‖x - x'‖² / 2σ²)``; ``"median"`` sets ``σ``
to the median pairwise distance of that sample (detached: no gradient through the bandwidth),
which makes HSIC invariant to rescaling either sample. A fixed ``σ = 1`` does not: LoRA updates
have entries around 1e-3, so every distance is ≪ 1, the kernel is ≈ 1 everywhere and HSIC (and
its gradient) silently vanishes — measured in tests/recipes/test_hsic.py.
"""

from __future__ import annotations

import torch

Bandwidth = float | str  # a fixed σ, or "median"


def centred(k: torch.Tensor) -> torch.Tensor:
    """``H K H`` for a square ``[n, n]`` matrix, without forming ``H``."""
    return k - k.mean(0, keepdim=True) - k.mean(1, keepdim=True) + k.mean()


def sq_distances(gram: torch.Tensor) -> torch.Tensor:
    """``[n, n]`` squared Euclidean distances from a Gram matrix ``[n, n]`` (clamped at 0)."""
    diag = gram.diagonal()
    return (diag[:, None] + diag[None, :] - 2 * gram).clamp_min(0)


def median_sigma(dist2: torch.Tensor) -> torch.Tensor:
    """The median heuristic: median pairwise distance over ``a < b`` (detached).

    Falls back to 1 when every sample is identical (the kernel is then constant anyway, so
    HSIC is exactly 0 whatever σ is).
    """
    n = dist2.shape[0]
    rows, cols = torch.triu_indices(n, n, offset=1, device=dist2.device)
    sigma = dist2.detach()[rows, cols].sqrt().median()
    return torch.where(sigma > 0, sigma, torch.ones_like(sigma))


def rbf_from_gram(gram: torch.Tensor, bandwidth: Bandwidth = "median") -> torch.Tensor:
    """RBF kernel matrix ``[n, n]`` of the samples whose Gram matrix is ``gram``."""
    dist2 = sq_distances(gram)
    if bandwidth == "median":
        sigma = median_sigma(dist2)
    elif isinstance(bandwidth, str):
        raise ValueError(f"bandwidth must be a positive number or 'median', got '{bandwidth}'")
    else:
        if bandwidth <= 0:
            raise ValueError(f"bandwidth must be > 0, got {bandwidth}")
        sigma = torch.tensor(float(bandwidth), dtype=gram.dtype, device=gram.device)
    return torch.exp(-dist2 / (2 * sigma**2))


def hsic_from_kernels(k: torch.Tensor, l_centred: torch.Tensor) -> torch.Tensor:
    """``tr(K H L H) / n²`` given ``K`` and the already centred ``H L H`` (both ``[n, n]``)."""
    n = k.shape[0]
    return (k * l_centred).sum() / n**2


def hsic(x: torch.Tensor, y: torch.Tensor, bandwidth: Bandwidth = "median") -> torch.Tensor:
    """HSIC between paired samples ``x`` ``[n, p]`` and ``y`` ``[n, q]`` (row ``a`` pairs with row ``a``).

    Scalar, ≥ 0 up to rounding; 0 iff the kernel mean embeddings factorise (independence, for
    the characteristic RBF kernel) in the population limit; O(1/n) bias for finite ``n``.
    """
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"hsic needs paired samples, got {x.shape[0]} and {y.shape[0]} rows")
    k = rbf_from_gram(x @ x.T, bandwidth)
    l_ = rbf_from_gram(y @ y.T, bandwidth)
    return hsic_from_kernels(k, centred(l_))


def lowrank_row_gram(
    b: torch.Tensor, a: torch.Tensor, scale: float, rows: torch.Tensor | None = None
) -> torch.Tensor:
    """Gram matrix of the rows of ``ΔW = scale · B A`` without forming ``ΔW``.

    ``B`` is ``[d_out, r]``, ``A`` is ``[r, d_in]``; the result is ``[m, m]`` over the output
    units ``rows`` (all ``d_out`` when None):

        ΔW ΔWᵀ = scale² · B (A Aᵀ) Bᵀ

    costs O(d_in r² + m² r) instead of O(m² d_in) and never allocates the ``[d_out, d_in]``
    update — for a 4096² projection that is 16M floats per adapter avoided.
    """
    if rows is not None:
        b = b[rows]
    return scale**2 * (b @ (a @ a.T) @ b.T)

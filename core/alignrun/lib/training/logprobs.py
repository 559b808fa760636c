"""Summed response log-probabilities of sequences under a model."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from alignrun.lib.training.batching import TokenBatch


def sequence_logps(model: Any, batch: TokenBatch) -> torch.Tensor:
    """``[n]``: ``Σ_t log p(x_t | x_<t)`` over each row's response tokens.

    Only positions from the batch's earliest response token on go through the LM head and the
    cross-entropy (``logits_to_keep``): prompt positions' logits are never used, and over a 49k
    vocabulary (SmolLM2) head + cross-entropy cost ~60% of the transformer body on CPU. The
    cross-entropy runs on contiguous ``[tokens, vocab]`` rows (the transposed layout is ~3x slower).
    """
    # logits at position t predict token t + 1: keep positions first-1 .. T-1, drop the last
    first = max(int(batch.response_mask.to(torch.float32).argmax(1).min()), 1)
    keep = batch.input_ids.shape[1] - first + 1
    try:
        logits = model(
            input_ids=batch.input_ids, attention_mask=batch.attention_mask, logits_to_keep=keep
        ).logits
    except TypeError:  # an architecture without logits_to_keep: compute all, then trim
        logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits[:, -keep:]
    logits = logits[:, :-1]
    labels = batch.input_ids[:, first:]
    mask = batch.response_mask[:, first:].to(torch.float32)
    n, t, vocab = logits.shape
    token_logp = -F.cross_entropy(
        logits.reshape(n * t, vocab).float(), labels.reshape(n * t), reduction="none"
    ).view(n, t)
    return (token_logp * mask).sum(-1)

"""Summed response log-probabilities of sequences under a model."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from alignrun.training.batching import TokenBatch


def sequence_logps(model: Any, batch: TokenBatch) -> torch.Tensor:
    """``[n]``: ``Σ_t log p(x_t | x_<t)`` over each row's response tokens.

    Cross-entropy per position instead of a full log-softmax copy: the vocabulary (49k for
    SmolLM2) dominates memory.
    """
    logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits[:, :-1]
    labels = batch.input_ids[:, 1:]
    mask = batch.response_mask[:, 1:].to(torch.float32)
    token_logp = -F.cross_entropy(logits.float().transpose(1, 2), labels, reduction="none")  # [n, t-1]
    return (token_logp * mask).sum(-1)

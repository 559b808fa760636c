"""Data parallelism over ``torchrun`` / ``accelerate launch`` ranks (gloo on CPU, nccl on GPU).

The process group is initialised once per process (re-initialising for a second job hung,
DESIGN.md §6). Gradients are averaged with one all-reduce per step over the trainable
parameters — what DDP's wrapper does — because methods switch which adapter is trainable
mid-run, which the wrapper's fixed parameter registration does not allow.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
import torch.distributed as dist


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def ensure_initialised() -> None:
    """Join the launcher's process group if there is one and it is not joined yet."""
    if world_size() > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend=backend)


def average_gradients(params: Sequence[torch.Tensor]) -> None:
    """All-reduce-average the gradients of ``params`` across ranks (a no-op on one process)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)  # a sum: each rank's loss was already divided by the global batch size
    offset = 0
    for p, g in zip(params, grads, strict=True):
        n = g.numel()
        p.grad = flat[offset : offset + n].view_as(g).clone()
        offset += n


def broadcast_text(text: str) -> str:
    """Rank 0's ``text`` on every rank."""
    if not (dist.is_available() and dist.is_initialized()):
        return text
    box = [text]
    dist.broadcast_object_list(box, src=0)
    return str(box[0])

"""Data parallelism through 🤗 Accelerate, under ``accelerate launch`` or ``torchrun`` ranks.

One :class:`accelerate.Accelerator` per process prepares each training phase's model and optimizer
(:class:`~alignrun.lib.training.trainer.Trainer`): DDP on CPU (gloo) or GPUs (nccl), or FSDP / DeepSpeed
as the launcher's config says (docs/scale.md). The process state is made with ``cpu=True`` on a box
without CUDA: accelerate otherwise joins the process group but reports a single process there
(measured with accelerate 1.16 under torchrun), and data parallelism silently does nothing.
"""

from __future__ import annotations

import functools
import os
from typing import Any


def world_size() -> int:
    """The launcher's process count (1 outside ``torchrun``/``accelerate launch``). Torch-free, like
    :func:`rank`: the CLI and the run dir read them before anything heavy loads."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    """This process's rank among the launcher's (0 outside one); torch-free."""
    return int(os.environ.get("RANK", "0"))


@functools.cache
def accelerator() -> Any:
    """This process's ``Accelerator``; the first call joins the launcher's process group."""
    import torch
    from accelerate import Accelerator, PartialState

    cpu = not torch.cuda.is_available()
    PartialState(cpu=cpu)  # before anything else makes the shared state without cpu=
    # alignrun keeps its own autocast policy (model.autocast); the launcher's config may add one
    return Accelerator(cpu=cpu)


def ensure_initialised() -> None:
    """Join the launcher's process group if there is one and it is not joined yet."""
    if world_size() > 1:
        accelerator()


def broadcast_text(text: str) -> str:
    """Rank 0's ``text`` on every rank."""
    if world_size() == 1:
        return text
    from accelerate.utils import broadcast_object_list

    return str(broadcast_object_list([text], from_process=0)[0])

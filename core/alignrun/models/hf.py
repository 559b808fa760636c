"""``model=hf``: any Hugging Face causal LM, by hub name or local folder."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from alignrun.errors import AlignrunError
from alignrun.lm import LM

_DTYPES = {"auto": "auto", "float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_device(device: str) -> torch.device:
    """``auto`` picks CUDA when present, else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def load_hf(
    name: str,
    revision: str | None = None,
    dtype: str = "auto",
    device: str = "auto",
    trust_remote_code: bool = False,
) -> LM:
    """Load a causal LM and its tokenizer.

    Args:
        name: hub id (``Qwen/Qwen2.5-0.5B-Instruct``) or a local folder.
        revision: hub revision (branch, tag or commit).
        dtype: ``auto`` (the checkpoint's), ``float32``, ``bfloat16`` or ``float16``.
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:1`` ...
        trust_remote_code: run the checkpoint's own Python code; off unless you trust it.

    Raises:
        AlignrunError: the model can't be found locally or fetched (offline, typo, gated).
    """
    if dtype not in _DTYPES:
        raise AlignrunError(f"model.dtype must be one of {sorted(_DTYPES)}, got '{dtype}'")
    local = Path(name).expanduser().is_dir()
    try:
        tokenizer = AutoTokenizer.from_pretrained(name, revision=revision, trust_remote_code=trust_remote_code)
        model = AutoModelForCausalLM.from_pretrained(
            name, revision=revision, dtype=_DTYPES[dtype], trust_remote_code=trust_remote_code
        )
    except (OSError, ValueError) as exc:
        where = "the local folder" if local else "the Hugging Face Hub"
        hint = (
            " (HF_HUB_OFFLINE is set: only local folders and the hub cache are used)"
            if os.environ.get("HF_HUB_OFFLINE") else ""
        )
        raise AlignrunError(
            f"could not load model '{name}' from {where}{hint}: {str(exc).splitlines()[0]} "
            "— pass model.name=/path/to/a/downloaded/model on a machine without hub access"
        ) from exc
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if tokenizer.chat_template is None:
        raise AlignrunError(f"model '{name}' has no chat template; alignrun needs an instruction-tuned model")
    model.to(resolve_device(device)).eval()
    return LM(model=model, tokenizer=tokenizer, name=name)

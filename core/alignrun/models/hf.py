"""``model=hf``: any Hugging Face causal LM, by hub name or local folder.

Order of attempts: a local folder; the local hub cache (no network); the hub itself, but
only after a quick reachability probe, because huggingface_hub retries an unreachable
host for most of a minute before failing.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlparse

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from alignrun.errors import AlignrunError
from alignrun.lm import LM
from alignrun.settings import from_yaml, signature_from

_DTYPES = {"auto": "auto", "float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
_FIX = "pass model.name=/path/to/a/downloaded/model where the hub is out of reach"


def resolve_device(device: str) -> torch.device:
    """``auto`` picks CUDA when present (under a launcher, each rank its own GPU), else CPU."""
    if device == "auto":
        if not torch.cuda.is_available():
            return torch.device("cpu")
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")) % torch.cuda.device_count())
    return torch.device(device)


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether a TCP connection to the Hugging Face endpoint opens within ``timeout`` seconds."""
    from huggingface_hub import constants

    url = urlparse(constants.ENDPOINT)
    try:
        with socket.create_connection((url.hostname or "", url.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def remote_code_refused(exc: BaseException, name: str, setting: str) -> AlignrunError | None:
    """The one line for a checkpoint that ships its own Python code (``auto_map``) loaded with
    ``trust_remote_code`` off — transformers' own message names its argument, not alignrun's setting."""
    if "trust_remote_code" not in str(exc):
        return None
    return AlignrunError(
        f"'{name}' ships its own Python code (auto_map in its config), which alignrun runs only when "
        f"you say so: {setting}=true, for code you have read and trust"
    )


def _load(name: str, **kwargs: Any) -> tuple[Any, Any]:
    from transformers import AutoConfig

    # the config first: a checkpoint's own code is refused here, before a tokenizer fails on it
    AutoConfig.from_pretrained(name, **{k: v for k, v in kwargs.items() if k != "dtype"})
    tokenizer = AutoTokenizer.from_pretrained(name, **kwargs)
    model = AutoModelForCausalLM.from_pretrained(name, **kwargs)
    return model, tokenizer


@signature_from("model/hf.yaml")
def load_hf(
    name: str,
    revision: str | None = from_yaml(),
    dtype: str = from_yaml(),
    device: str = from_yaml(),
    trust_remote_code: bool = from_yaml(),
    autocast: str = from_yaml(),
) -> LM:
    """Load a causal LM and its tokenizer.

    Args:
        name: hub id (``Qwen/Qwen2.5-0.5B-Instruct``) or a local folder.
        revision: hub revision (branch, tag or commit).
        dtype: ``auto`` (the checkpoint's), ``float32``, ``bfloat16`` or ``float16``.
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:1`` ...
        trust_remote_code: run the checkpoint's own Python code; off unless you trust it.
        autocast: ``auto`` | ``bfloat16`` | ``none`` (see :class:`alignrun.lm.LM`).

    Raises:
        AlignrunError: the model can't be found locally or fetched (offline, typo, gated).
    """
    if dtype not in _DTYPES:
        raise AlignrunError(f"model.dtype must be one of {sorted(_DTYPES)}, got '{dtype}'")
    kwargs = {"revision": revision, "dtype": _DTYPES[dtype], "trust_remote_code": trust_remote_code}
    try:
        if Path(name).expanduser().is_dir():
            model, tokenizer = _load(str(Path(name).expanduser()), **kwargs)
        else:
            try:
                model, tokenizer = _load(name, local_files_only=True, **kwargs)
            except OSError:  # not in the hub cache: the hub itself is the last resort
                if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on"):
                    raise AlignrunError(
                        f"model '{name}' is not a local folder nor in the hub cache, and "
                        f"HF_HUB_OFFLINE is set; {_FIX}"
                    ) from None
                if not hub_reachable():
                    raise AlignrunError(
                        f"model '{name}' is not a local folder nor in the hub cache, and the "
                        f"Hugging Face Hub is unreachable; {_FIX}"
                    ) from None
                model, tokenizer = _load(name, **kwargs)
    except (OSError, ValueError) as exc:
        refused = remote_code_refused(exc, name, "model.trust_remote_code")
        if refused is not None:
            raise refused from None
        raise AlignrunError(f"could not load model '{name}': {str(exc).splitlines()[0]}; {_FIX}") from exc
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if tokenizer.chat_template is None:
        raise AlignrunError(f"model '{name}' has no chat template; alignrun needs an instruction-tuned model")
    cast(torch.nn.Module, model).to(resolve_device(device))  # transformers' own .to typing confuses mypy
    model.eval()
    return LM(model=model, tokenizer=tokenizer, name=name, autocast=autocast)

"""SAEs on disk in SAELens's format: a folder with ``cfg.json`` and ``sae_weights.safetensors``.

The ``cfg.json`` written here loads with SAELens 6 (``SAE.load_from_disk``: it reads
``architecture``, ``d_in``, ``d_sae``, ``k``, ``dtype`` and ``metadata`` with ``sae_lens_version``)
and with SAELens 5 (flat keys: ``activation_fn_str``/``activation_fn_kwargs``, ``hook_layer``,
``context_size``, ``dataset_path`` ...), so both are written. Traps this avoids: without ``k`` SAELens
6 silently uses 100; ``metadata`` without ``sae_lens_version`` loses ``hook_name``; weights load
strictly (exactly ``W_enc [d_in, d_sae]``, ``W_dec``, ``b_enc``, ``b_dec``, and ``threshold`` for
JumpReLU). Trained SAEs have unit-norm decoder rows and ``rescale_acts_by_decoder_norm: false``, so
SAELens 5 and 6 compute the same features.

``hook_name`` is TransformerLens's ``blocks.{L}.hook_resid_post``: the output of decoder layer ``L``
(Hugging Face ``model.layers[L]``), which is what alignrun hooks.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from alignrun.atomic import atomic_write_dir
from alignrun.errors import AlignrunError
from alignrun.lib.sae.model import ARCHITECTURES, SparseAutoencoder

CFG = "cfg.json"
WEIGHTS = "sae_weights.safetensors"
SAE_LENS_VERSION = "6.0.0"  # the config layout written; SAELens 6 reads metadata only when this is present


def hook_name(layer: int) -> str:
    return f"blocks.{layer}.hook_resid_post"


def sae_config(
    sae: SparseAutoencoder, layer: int, model_name: str, context_size: int, dataset: str
) -> dict[str, Any]:
    """The ``cfg.json`` content: SAELens 6 keys, SAELens 5 flat keys, both loaders' ``metadata``."""
    topk = sae.architecture == "topk"
    activation = {"topk": "topk", "standard": "relu", "jumprelu": "jumprelu"}[sae.architecture]
    meta: dict[str, Any] = {
        "sae_lens_version": SAE_LENS_VERSION,
        "model_name": model_name,
        "hook_name": hook_name(layer),
        "hook_head_index": None,
        "context_size": context_size,
        "prepend_bos": False,
        "dataset_path": dataset,
        "model_from_pretrained_kwargs": {},
        "hf_hook_name": f"model.layers.{layer}",
        "training_architecture": sae.architecture,
    }
    cfg: dict[str, Any] = {
        "architecture": sae.architecture,
        "d_in": sae.d_in,
        "d_sae": sae.d_sae,
        "dtype": "float32",
        "device": "cpu",
        "apply_b_dec_to_input": True,
        "normalize_activations": "none",
        "reshape_activations": "none",
        "activation_fn_str": activation,
        "activation_fn_kwargs": {"k": sae.k} if topk else {},
        "finetuning_scaling_factor": False,
        "model_name": model_name,
        "hook_name": hook_name(layer),
        "hook_layer": layer,
        "hook_head_index": None,
        "context_size": context_size,
        "prepend_bos": False,
        "dataset_path": dataset,
        "dataset_trust_remote_code": False,
        "sae_lens_training_version": None,
        "neuronpedia_id": None,
        "model_from_pretrained_kwargs": {},
        "metadata": meta,
    }
    if topk:
        cfg["k"] = sae.k
        cfg["rescale_acts_by_decoder_norm"] = False
    return cfg


def save_sae(sae: SparseAutoencoder, path: str | os.PathLike[str], cfg: dict[str, Any]) -> Path:
    """Write the SAE folder atomically (a temp folder renamed into place); returns its path."""
    from safetensors.torch import save_file

    def write(tmp: Path) -> None:
        tensors = {name: t.detach().float().contiguous().cpu() for name, t in sae.state_dict().items()}
        save_file(tensors, str(tmp / WEIGHTS))
        (tmp / CFG).write_text(json.dumps(cfg, indent=2) + "\n")

    atomic_write_dir(path, write)
    return Path(path)


def load_sae(path: str | os.PathLike[str]) -> tuple[SparseAutoencoder, dict[str, Any]]:
    """Load a SAELens-format folder (``topk``, ``standard``, ``jumprelu``): the SAE and its ``cfg.json``.

    Raises:
        AlignrunError: a missing folder or file, an architecture other than topk/standard, or tensors
            that do not match the config (one line naming the folder).
    """
    from safetensors.torch import load_file

    folder = Path(path).expanduser()
    where = f"SAE folder {folder}"
    if not (folder / CFG).is_file() or not (folder / WEIGHTS).is_file():
        raise AlignrunError(f"{where} needs {CFG} and {WEIGHTS} (SAELens's on-disk format)")
    try:
        cfg = json.loads((folder / CFG).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise AlignrunError(f"{where}: {CFG} cannot be read ({exc})") from None
    arch = cfg.get("architecture", "standard")
    kwargs = cfg.get("activation_fn_kwargs") or {}
    if arch == "standard" and cfg.get("activation_fn_str", cfg.get("activation_fn")) == "topk":
        arch = "topk"  # SAELens 3-5 wrote TopK SAEs as standard + activation_fn_str topk
    if arch not in ARCHITECTURES:
        raise AlignrunError(
            f"{where}: architecture '{arch}' is not supported (only {', '.join(ARCHITECTURES)})"
        )
    try:
        sae = SparseAutoencoder(int(cfg["d_in"]), int(cfg["d_sae"]), cfg.get("k", kwargs.get("k")), arch)
        tensors = load_file(str(folder / WEIGHTS))
        sae.load_state_dict({name: t.float() for name, t in tensors.items()}, strict=True)
    except (KeyError, ValueError, RuntimeError) as exc:
        raise AlignrunError(f"{where} does not match its {CFG}: {str(exc).splitlines()[0]}") from None
    if cfg.get("rescale_acts_by_decoder_norm"):
        sae.normalize_decoder()  # SAELens scales pre-activations by the row norms: folding them is the same
    return sae, cfg


def sae_layer(cfg: dict[str, Any]) -> int:
    """The decoder layer an SAE reads, from ``hook_name`` (``blocks.L.hook_resid_post``) or ``hook_layer``."""
    meta = cfg.get("metadata") or {}
    name = meta.get("hook_name") or cfg.get("hook_name") or ""
    parts = str(name).split(".")
    if len(parts) == 3 and parts[0] == "blocks" and parts[1].isdigit() and parts[2] == "hook_resid_post":
        return int(parts[1])
    if cfg.get("hook_layer") is not None and str(name).endswith("hook_resid_post"):
        return int(cfg["hook_layer"])
    raise AlignrunError(
        f"the SAE reads '{name}'; alignrun steers residual-stream SAEs (blocks.L.hook_resid_post)"
    )

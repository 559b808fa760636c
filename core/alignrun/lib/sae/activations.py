"""Residual-stream activations of a Hugging Face causal LM at one decoder layer, by forward hook.

No TransformerLens: a hook on ``model.layers[L]`` reads its output (SAELens's
``blocks.L.hook_resid_post``; note ``output_hidden_states[-1]`` is *after* the final norm, so it is not
used) and, when collecting, raises to stop the forward pass there — layers above ``L`` never run.
Collected activations are cached on disk (``~/.cache/alignrun/activations/<key>/``, float16 chunks
of safetensors, written atomically) so a second SAE fit on the same model, layer and text loads them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from alignrun.atomic import atomic_write_dir
from alignrun.cache import cache_dir, keep, read_entry
from alignrun.errors import AlignrunError
from alignrun.lm import LM


def decoder_layers(model: Any) -> Any:
    """The decoder layers (Llama, Qwen, Gemma: ``model.layers``; GPT-2: ``transformer.h``)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    for path in ("model.layers", "model.model.layers", "transformer.h", "gpt_neox.layers"):
        obj = base
        for part in path.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                break
        if obj is not None:
            return obj
    raise AlignrunError(
        f"cannot find the decoder layers of {type(base).__name__} (tried model.layers, transformer.h)"
    )


def layer_module(lm: LM, layer: int) -> Any:
    layers = decoder_layers(lm.model)
    if not -len(layers) <= layer < len(layers):
        raise AlignrunError(
            f"layer {layer} does not exist: the model has {len(layers)} decoder layers (0..{len(layers) - 1})"
        )
    return layers[layer]


class _Stop(Exception):
    """Raised by the capture hook: the layers above the captured one are not needed."""


@contextmanager
def capture(lm: LM, layer: int, stop: bool = True) -> Iterator[list[torch.Tensor]]:
    """Inside the block, each forward pass appends layer ``layer``'s output ``[b, t, d]`` to the list."""
    seen: list[torch.Tensor] = []

    def hook(_module: Any, _inputs: Any, output: Any) -> None:
        seen.append((output[0] if isinstance(output, tuple) else output).detach())
        if stop:
            raise _Stop

    handle = layer_module(lm, layer).register_forward_hook(hook)
    try:
        yield seen
    finally:
        handle.remove()


@torch.inference_mode()
def layer_output(lm: LM, layer: int, enc: Any) -> torch.Tensor:
    """``[b, t, d_model]``: layer ``layer``'s output for the batch ``enc`` (later layers don't run)."""
    with capture(lm, layer) as seen, lm.precision(), contextlib.suppress(_Stop):
        lm.model(**enc, use_cache=False)
    return seen[0]


def tokenize(lm: LM, texts: list[str], max_length: int) -> Any:
    """A right-padded batch of chat-formatted ``texts`` on the model's device (no special tokens added)."""
    lm.tokenizer.padding_side = "right"
    return lm.tokenizer(
        texts,
        return_tensors="pt",
        padding=True,
        truncation=True,
        max_length=max_length,
        add_special_tokens=False,
    ).to(lm.device)


@torch.inference_mode()
def residual_activations(
    lm: LM,
    texts: Sequence[str],
    layer: int,
    batch_size: int = 16,
    max_length: int = 256,
    progress: bool = True,
) -> torch.Tensor:
    """``[n_tokens, d_model]`` float32 activations of ``texts``' tokens (no padding, no special tokens).

    Texts are batched by length (less padding: 198 s -> 166 s for the bundled text on SmolLM2), rows come in
    the texts' own order.
    """
    tok = lm.tokenizer
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    per_text: dict[int, torch.Tensor] = {}
    was_training = lm.model.training
    lm.model.eval()
    try:
        starts = range(0, len(texts), batch_size)
        for start in tqdm(starts, desc="activations", disable=not progress or len(starts) < 2):
            ids = order[start : start + batch_size]
            enc = tokenize(lm, [texts[i] for i in ids], max_length)
            hidden = layer_output(lm, layer, enc)
            # special tokens (<|im_start|>, BOS) carry outsized "massive activation" norms that would
            # dominate the SAE's reconstruction loss; SAELens leaves them out too
            mask = enc["attention_mask"].bool() & ~torch.isin(enc["input_ids"], special_ids(tok, lm.device))
            for row, i in enumerate(ids):
                per_text[i] = hidden[row][mask[row]].float().cpu()
    finally:
        lm.model.train(was_training)
    return torch.cat([per_text[i] for i in range(len(texts))]) if texts else torch.empty(0, 0)


def special_ids(tokenizer: Any, device: torch.device) -> torch.Tensor:
    return torch.tensor(sorted(set(tokenizer.all_special_ids)), dtype=torch.long, device=device)


def cache_key(model_name: str, layer: int, texts: Sequence[str], max_length: int) -> str:
    h = hashlib.sha256(json.dumps([model_name, layer, max_length, list(texts)]).encode()).hexdigest()
    return h[:20]


def cached_activations(
    lm: LM,
    texts: Sequence[str],
    layer: int,
    batch_size: int = 16,
    max_length: int = 256,
    progress: bool = True,
) -> torch.Tensor:
    """:func:`residual_activations`, read from the user cache when this model, layer and text were seen.

    The cache is keyed by the model's name, so a model changed in place under the same name (a
    fine-tuned checkpoint saved over the old one) must be given a new name or ``ALIGNRUN_CACHE`` cleared.
    """
    from safetensors.torch import load_file, save_file

    folder = cache_dir() / "activations" / cache_key(lm.name, layer, texts, max_length)
    file = folder / "activations.safetensors"
    cached = (
        read_entry(folder, lambda: load_file(str(file))["activations"], "activation")
        if file.is_file()
        else None
    )
    if cached is not None:
        return cached.float()
    acts = residual_activations(lm, texts, layer, batch_size, max_length, progress)

    def write(tmp: Path) -> None:
        save_file({"activations": acts.half().contiguous()}, str(tmp / "activations.safetensors"))
        (tmp / "meta.json").write_text(json.dumps({"model": lm.name, "layer": layer, "texts": len(texts)}))

    # a concurrent run that got there first keeps its copy
    keep(folder, lambda: atomic_write_dir(folder, write, replace=False), "activation")
    return acts.half().float()  # the values a later cached read returns


def mean_norm(lm: LM, layer: int, texts: Sequence[str], max_length: int = 256) -> float:
    """Mean L2 norm of layer ``layer``'s output over ``texts``' tokens (the steering coefficients' unit)."""
    acts = residual_activations(lm, texts, layer, max_length=max_length, progress=False)
    return float(acts.norm(dim=1).mean()) if len(acts) else 1.0

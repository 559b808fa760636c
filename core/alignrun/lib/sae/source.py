"""Where a run's SAE comes from: a SAELens-format folder, a SAELens hub release, or trained here.

Training data: alignrun's bundled text as the model sees it — every preference pair's prompt with
its chosen and its rejected answer as a chat, every eval prompt, scenario and questionnaire item
as a user turn awaiting the answer, every exemplar as an assistant turn. Trained SAEs are cached in
``~/.cache/alignrun/saes/<key>`` (model name, layer, budget, text), so the first run pays for them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from typing import Any

from alignrun.atomic import atomic_write_text
from alignrun.cache import cache_dir, keep, read_entry
from alignrun.errors import AlignrunError
from alignrun.lib.sae.features import EXEMPLAR_PROMPT
from alignrun.lib.sae.format import load_sae, sae_config, sae_layer, save_sae
from alignrun.lib.sae.model import SparseAutoencoder
from alignrun.lib.sae.train import SAETraining
from alignrun.lm import LM

DATASET = "alignrun-bundled"


def training_texts(lm: LM) -> list[str]:
    """The bundled text as chat-formatted conversations (see the module docstring)."""
    from alignrun.data.bundled import read_jsonl
    from alignrun.profile.schwartz import counter_exemplars, scenarios, schwartz_values

    def conversation(user: str, reply: str | None = None) -> str:
        messages = [{"role": "user", "content": user}]
        if reply is not None:
            messages.append({"role": "assistant", "content": reply})
        return str(
            lm.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=reply is None)
        )

    texts = []
    for value in ("helpful", "harmless", "honest"):
        for row in read_jsonl(f"{value}.pairs.jsonl") + read_jsonl(f"{value}.eval.jsonl"):
            texts += [
                conversation(row["prompt"], row["chosen"]),
                conversation(row["prompt"], row["rejected"]),
            ]
    texts += [conversation(s) for s in scenarios()]
    for schwartz in schwartz_values().values():
        texts += [
            conversation(f"{i['question']} Answer with yes or no.") for i in schwartz.questionnaire or []
        ]
        texts += [conversation(EXEMPLAR_PROMPT, e) for e in schwartz.exemplars or []]
    texts += [
        conversation("Tell me about something you did recently.", c)
        for cs in counter_exemplars().values()
        for c in cs
    ]
    return texts


class SAESource:
    """``method.sae``: which SAE to steer with.

    Args:
        path: a SAELens-format folder (``cfg.json`` + ``sae_weights.safetensors``); its layer comes from
            its ``hook_name``.
        release: a SAELens pretrained release (with ``sae_id``), loaded through ``sae_lens`` (optional
            extra, needs the hub) and converted.
        sae_id: the SAE within ``release``.
        layer: where to train one when neither is given (None: the middle decoder layer).
        max_length: tokens per training text.
        training: the SAE's size and budget.
    """

    def __init__(
        self,
        path: str | None = None,
        release: str | None = None,
        sae_id: str | None = None,
        layer: int | None = None,
        max_length: int = 256,
        training: SAETraining | None = None,
    ) -> None:
        if path and release:
            raise AlignrunError("method.sae: give path or release, not both")
        if release and not sae_id:
            raise AlignrunError("method.sae.release needs method.sae.sae_id")
        self.path, self.release, self.sae_id = path, release, sae_id
        self.loaded = load_sae(path) if path else None  # a bad folder fails before the model is used
        self.layer, self.max_length = layer, max_length
        self.training = training or SAETraining()

    def get(
        self, lm: LM, progress: bool = True
    ) -> tuple[SparseAutoencoder, dict[str, Any], dict[str, float]]:
        """The SAE, its ``cfg.json`` and (when trained here) its training metrics."""
        if self.loaded is not None:
            return (*self.loaded, {})
        if self.release:
            return (*from_release(self.release, str(self.sae_id)), {})
        return self.train(lm, progress)

    def train(self, lm: LM, progress: bool) -> tuple[SparseAutoencoder, dict[str, Any], dict[str, float]]:
        from alignrun.lib.sae.activations import cached_activations, decoder_layers

        layer = self.layer if self.layer is not None else len(decoder_layers(lm.model)) // 2
        texts = training_texts(lm)
        key = hashlib.sha256(
            json.dumps([lm.name, layer, self.max_length, asdict(self.training), texts]).encode()
        ).hexdigest()[:20]
        folder = cache_dir() / "saes" / key
        if (folder / "metrics.json").is_file():
            hit = read_entry(
                folder, lambda: (*load_sae(folder), json.loads((folder / "metrics.json").read_text())), "SAE"
            )
            if hit is not None:
                return hit
        from alignrun.lib.sae.train import train_sae

        acts = cached_activations(lm, texts, layer, max_length=self.max_length, progress=progress)
        sae, metrics = train_sae(acts, self.training, progress)
        cfg = sae_config(sae, layer, lm.name, self.max_length, DATASET)
        cfg["metadata"]["alignrun"] = {"training": asdict(self.training), **metrics}

        def store() -> None:
            save_sae(sae, folder, cfg)
            # written last: its presence marks a complete cache entry
            atomic_write_text(folder / "metrics.json", json.dumps(metrics, indent=2) + "\n")

        keep(folder, store, "SAE")
        return sae, cfg, metrics


def from_release(release: str, sae_id: str) -> tuple[SparseAutoencoder, dict[str, Any]]:
    """A SAELens pretrained SAE (needs ``pip install sae-lens`` and the hub), as alignrun's SAE."""
    try:
        from sae_lens import SAE  # the optional [sae] extra
    except ImportError:
        raise AlignrunError(
            "method.sae.release needs SAELens: pip install 'alignrun[sae]' "
            "(or give method.sae.path, a local folder)"
        ) from None
    try:
        loaded = SAE.from_pretrained(release, sae_id, device="cpu")
    except Exception as exc:  # network, unknown release: SAELens raises many kinds
        raise AlignrunError(
            f"SAELens could not load {release}/{sae_id}: {type(exc).__name__}: {exc}"
        ) from None
    return convert_saelens(loaded[0] if isinstance(loaded, tuple) else loaded, f"{release}/{sae_id}")


def convert_saelens(loaded: Any, dataset: str = "") -> tuple[SparseAutoencoder, dict[str, Any]]:
    """A SAELens 6 ``TopKSAE``, ``StandardSAE`` or ``JumpReLUSAE`` as alignrun's SAE and a ``cfg.json``.

    Raises:
        AlignrunError: another architecture, or an SAE that does not read the residual stream.
    """
    arch = {"TopKSAE": "topk", "StandardSAE": "standard", "JumpReLUSAE": "jumprelu"}.get(
        type(loaded).__name__
    )
    if arch is None:
        raise AlignrunError(
            f"alignrun steers with TopK, standard and JumpReLU SAEs, not {type(loaded).__name__}"
        )
    state = {k: v.detach().float().cpu() for k, v in loaded.state_dict().items()}
    d_in, d_sae = state["W_enc"].shape
    meta = getattr(loaded.cfg, "metadata", None)
    hook = str(getattr(meta, "hook_name", "") or "")
    cfg = {"metadata": {"hook_name": hook}, "hook_name": hook}
    layer = sae_layer(cfg)
    sae = SparseAutoencoder(int(d_in), int(d_sae), getattr(loaded.cfg, "k", None), arch)
    sae.load_state_dict({name: state[name] for name in sae.state_dict()})
    if getattr(loaded.cfg, "rescale_acts_by_decoder_norm", False):
        sae.normalize_decoder()
    model_name = str(getattr(meta, "model_name", "") or "")
    return sae, sae_config(sae, layer, model_name, int(getattr(meta, "context_size", 0) or 0), dataset)

"""``model.adapter=<folder>``: a trained PEFT adapter folded into the model's weights at load time.

So every method and steering runs on a trained model as on a base one: a DPO or RLHF run's
``adapters/<value>/``, an MVA run's ``pareto/<k>/``, or any LoRA folder made with PEFT for the
same base. The adapter is merged (``merge_and_unload``), not kept as a PEFT wrapper: methods attach
their own adapters and hooks to a plain transformers model, and generating costs what the base
model's does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, open_dict

from alignrun.errors import AlignrunError

if TYPE_CHECKING:  # torch stays out of the CLI's preflight, which checks the folder
    from alignrun.lm import LM


def adapter_folder(path: str, setting: str = "model.adapter") -> Path:
    """The folder ``path`` names, if it is a PEFT adapter folder (``setting``: the key that gave it).

    Raises:
        AlignrunError: no such folder, or no ``adapter_config.json`` in it.
    """
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise AlignrunError(f"{setting}: no folder {folder}")
    if not (folder / "adapter_config.json").is_file():
        raise AlignrunError(
            f"{setting}: {folder} has no adapter_config.json; pass a PEFT adapter folder "
            "(a run's adapters/<value> or pareto/<k>)"
        )
    adapter_config(folder, setting)  # malformed: said here, before a model loads
    return folder


def adapter_config(folder: Path, setting: str = "model.adapter") -> dict[str, Any]:
    """The adapter's ``adapter_config.json``.

    Raises:
        AlignrunError: it is not a JSON object naming its ``peft_type``.
    """
    file = folder / "adapter_config.json"
    try:
        config = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise AlignrunError(f"{setting}: {file} is not valid JSON ({exc})") from None
    if not isinstance(config, dict) or "peft_type" not in config:
        raise AlignrunError(f"{setting}: {file} is not a PEFT adapter config (no peft_type)")
    return config


def load_errors() -> tuple[type[BaseException], ...]:
    """What loading a PEFT folder raises when the folder does not fit: size mismatches, unknown target
    modules, a config key PEFT does not know, a weights file that is missing, truncated or not
    safetensors at all."""
    from safetensors import SafetensorError

    return (RuntimeError, ValueError, KeyError, TypeError, OSError, SafetensorError)


def fold_adapter(lm: LM, path: str) -> LM:
    """Load the adapter at ``path`` onto ``lm.model`` and merge it into the weights.

    Raises:
        AlignrunError: not an adapter folder, or one trained on a model of another shape.
    """
    folder = adapter_folder(path)
    from peft import PeftModel

    try:
        peft_model = PeftModel.from_pretrained(lm.model, str(folder))
    except load_errors() as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        base = adapter_config(folder).get("base_model_name_or_path")
        raise AlignrunError(
            f"model.adapter: {folder} does not fit {lm.name} (trained on {base or 'another model'}?): {first}"
        ) from exc
    lm.model = peft_model.merge_and_unload()
    lm.model.eval()
    lm.name = f"{lm.name}+{folder}"
    return lm


def build_lm(node: DictConfig) -> LM:
    """Build the ``model`` node's LM, then fold in ``model.adapter`` when set.

    The public way to get the LM a composed config names, outside a run too (a plugin's tests):
    ``build_lm(compose(["model=tiny"]).model)``; no Hydra runtime is needed. Plain
    ``hydra.utils.instantiate(cfg.model)`` fails on ``adapter``: the loaders (``_target_``) never
    see that key, so third-party model configs get it for free (``+model.adapter=...`` where their
    YAML lacks it).
    """
    from alignrun.instantiate import build

    adapter: Any = node.get("adapter")
    node = node.copy()
    with open_dict(node):
        node.pop("adapter", None)
    lm = build(node)
    return fold_adapter(lm, str(adapter)) if adapter else lm

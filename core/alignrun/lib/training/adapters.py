"""Named LoRA adapters on a run's model (PEFT): attach, mix by rescaling, save as PEFT folders.

One adapter per value where a method needs it. Mixing sets several adapters active at once
and rescales each one's LoRA scaling in place, so a mixture ``base + Σ_i w_i · ΔW_i`` costs no
copy, no merge and no reload (``ΔW_i = (α/r) · B_i A_i``); exiting restores the scalings.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alignrun.atomic import atomic_write_dir
from alignrun.errors import AlignrunError
from alignrun.lm import LM
from alignrun.settings import check_fields, defaults_from, from_yaml

if TYPE_CHECKING:
    from alignrun.run import Run


@dataclass
@defaults_from("method/lora/default.yaml")  # the one home of its defaults
class LoraSettings:
    """The ``method.lora`` node."""

    r: int = from_yaml(ge=1)
    alpha: int = from_yaml(gt=0)
    dropout: float = from_yaml(ge=0, lt=1)
    target_modules: list[str] = from_yaml()

    def __post_init__(self) -> None:
        check_fields(self, "method.lora")
        if not self.target_modules:
            raise AlignrunError("method.lora.target_modules is empty: name the modules the adapter wraps")


def lora_config(settings: LoraSettings) -> Any:
    """The ``peft.LoraConfig`` of ``settings`` (bench/ hands it to TRL: both train the same adapter)."""
    from peft import LoraConfig

    return LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=list(settings.target_modules),
        bias="none",
        task_type="CAUSAL_LM",
    )


def attach(lm: LM, names: list[str], settings: LoraSettings) -> Any:
    """Add a LoRA adapter per name to ``lm.model`` (wrapping it in a ``PeftModel`` once)."""
    from peft import PeftModel, get_peft_model

    config = lora_config(settings)
    model = lm.model
    for name in names:
        if isinstance(model, PeftModel):
            model.add_adapter(name, config)
        else:
            model = get_peft_model(model, config, adapter_name=name)
    lm.model = model
    return model


def load_adapter(lm: LM, name: str, path: str) -> Any:
    """Load the PEFT adapter folder ``path`` onto ``lm.model`` as adapter ``name`` (wrapping it once).

    Raises:
        AlignrunError: not an adapter folder, or one trained on a model of another shape.
    """
    from peft import PeftModel

    from alignrun.models.adapter import adapter_folder, load_errors

    folder = adapter_folder(path)
    try:
        if isinstance(lm.model, PeftModel):
            lm.model.load_adapter(str(folder), adapter_name=name)
        else:
            lm.model = PeftModel.from_pretrained(lm.model, str(folder), adapter_name=name)
    except load_errors() as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise AlignrunError(f"adapter '{name}': {folder} does not fit {lm.name}: {first}") from exc
    for p in lm.model.parameters():
        p.requires_grad = False  # loaded to be used, not trained
    return lm.model


def load_weights(model: Any, name: str, path: str, settings: LoraSettings, setting: str) -> None:
    """Put the weights of the saved adapter ``path`` into ``model``'s attached adapter ``name``: a
    vector trained by an earlier run, used as if trained here (``setting`` names the key that gave it).

    Raises:
        AlignrunError: not an adapter folder, or one of another rank, scaling or module set.
    """
    from peft.utils import load_peft_weights, set_peft_model_state_dict

    from alignrun.models.adapter import adapter_config, adapter_folder, load_errors

    folder = adapter_folder(path, setting)
    saved = adapter_config(folder, setting)
    shape = {"r": settings.r, "lora_alpha": settings.alpha, "target_modules": sorted(settings.target_modules)}
    found = {k: sorted(saved.get(k) or []) if k == "target_modules" else saved.get(k) for k in shape}
    if found != shape:  # a vector of another shape is not the one this run would have trained
        differ = ", ".join(f"{k} {found[k]} (method.lora: {shape[k]})" for k in shape if found[k] != shape[k])
        raise AlignrunError(f"{setting}: {folder} is another LoRA: {differ}")
    try:
        result = set_peft_model_state_dict(model, load_peft_weights(str(folder)), adapter_name=name)
    except load_errors() as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise AlignrunError(f"{setting}: {folder} does not fit this model: {first}") from exc
    unexpected: list[str] = list(getattr(result, "unexpected_keys", []))
    missing = [k for k in getattr(result, "missing_keys", []) if f".{name}." in k and "lora_" in k]
    if unexpected or missing:
        keys = (unexpected or missing)[:3]
        raise AlignrunError(f"{setting}: {folder} does not fit this model's adapter (e.g. {', '.join(keys)})")


def lora_layers(model: Any) -> Iterator[Any]:
    from peft.tuners.lora import LoraLayer

    yield from (m for m in model.modules() if isinstance(m, LoraLayer))


def train_only(model: Any, name: str) -> list[Any]:
    """Make ``name`` the active adapter and the only trainable parameters; return them."""
    model.set_adapter(name)
    for pname, p in model.named_parameters():
        p.requires_grad = f".{name}." in pname and "lora_" in pname
    return [p for p in model.parameters() if p.requires_grad]


@contextmanager
def mixed(model: Any, weights: Mapping[str, float]) -> Iterator[None]:
    """Within the block, the model computes ``base + Σ_i w_i ΔW_i`` over the named adapters."""
    layers = list(lora_layers(model))
    saved = [(m, dict(m.scaling), m.active_adapters) for m in layers]
    names = [n for n in weights]
    try:
        for m in layers:
            m.set_adapter(names)
            for n, w in weights.items():
                m.set_scale(n, w)  # PEFT's: w × the adapter's own scale (alpha/r, or alpha/√r for rsLoRA)
        yield
    finally:
        for m, scaling, active in saved:
            m.scaling.clear()
            m.scaling.update(scaling)
            m.set_adapter(active)


@contextmanager
def merged(model: Any, weights: Mapping[str, float]) -> Iterator[None]:
    """Like :func:`mixed`, but ``Σ_i w_i ΔW_i`` is added into the base weights and the adapters are
    bypassed, so generation runs at the base model's speed.

    Unmerged, every decoding step pays each active adapter's two extra matmuls per layer plus
    PEFT's per-layer Python overhead (measured: SmolLM2 candidates scored ~2x slower with three
    adapters active). The base weights of the adapted modules are copied first and copied back
    on exit — exact, unlike subtracting the update again (memory: one copy of those weights).
    """
    import torch

    layers = list(lora_layers(model))
    bases = [m.get_base_layer().weight for m in layers]
    saved = [w.detach().clone() for w in bases]
    try:
        with torch.no_grad():
            for m, weight in zip(layers, bases, strict=True):
                for n, w in weights.items():
                    if w:  # PEFT's ΔW: its scaling (rsLoRA too) and fan_in_fan_out layout
                        weight += (w * m.get_delta_weight(n).float()).to(weight.dtype)
        with model.disable_adapter():
            yield
    finally:
        with torch.no_grad():
            for weight, copy in zip(bases, saved, strict=True):
                weight.copy_(copy)


class AdapterMix:
    """An Intervention: evaluate the run's PEFT model under adapter weights ``weights``.

    ``merge=True`` (default) folds the mixture into the base weights for the block
    (:func:`merged`, fast generation); ``merge=False`` rescales the adapters in place
    (:func:`mixed`, no weight copy).
    """

    name = "adapter_mix"

    def __init__(self, weights: Mapping[str, float], merge: bool = True) -> None:
        self.weights = dict(weights)
        self.merge = merge

    @contextmanager
    def apply(self, lm: LM) -> Iterator[LM]:
        with (merged if self.merge else mixed)(lm.model, self.weights):
            yield lm


def save_adapter(model: Any, name: str, path: Path) -> Path:
    """Write adapter ``name`` as a standard PEFT folder at ``path`` (atomically, the last writer wins)."""

    def write(folder: Path) -> None:
        staging = folder / ".peft"
        model.save_pretrained(staging, selected_adapters=[name])
        written = staging / name if (staging / name).is_dir() else staging  # PEFT nests non-"default" ones
        for item in written.iterdir():
            item.rename(folder / item.name)
        shutil.rmtree(staging)

    atomic_write_dir(path, write)
    return path


def save_adapters(run: Run, model: Any, names: Sequence[str]) -> dict[str, str]:
    """Write each named adapter to ``adapters/<name>/`` (main process only); ``adapter/<name>`` -> folder."""
    if not run.is_main_process:
        return {}
    out = run.output_dir
    return {f"adapter/{n}": str(save_adapter(model, n, out / "adapters" / n).relative_to(out)) for n in names}

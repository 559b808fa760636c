"""Cross-fitting: a value's pairs split once, seeded, into a training half and a judge-fitting half.

When the pairs a method trains on also fit the judge that grades it (the bundled values: DPO and
the MiniLM judge both learn ``helpful.pairs.jsonl``), a gain can be the model learning the judge's
own data. Splitting the pairs — by *prompt*, so no prompt's answers sit on both sides — makes the
evaluator an independent instrument on the same value (Chernozhukov et al. 2018's cross-fitting;
the reason AlpacaEval validates its judges on annotations no model was tuned on).

The split depends on ``split_seed`` and the prompt text only: every method, every run seed and every
``data.max_pairs`` cap sees the same halves, so one evaluator grades all of them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


def rows_of(pairs: Any) -> list[dict[str, Any]]:
    """A ``datasets.Dataset`` or a list of mappings as plain dict rows (every column: a cost head reads
    ``chosen_safe``/``rejected_safe``)."""
    if pairs is None:
        return []
    return [dict(r) for r in pairs]


def prompts_of(pairs: Any) -> set[str]:
    """The distinct prompts of some pairs."""
    return {str(r["prompt"]) for r in pairs or []}


def in_judge_half(prompt: str, seed: int, fraction: float) -> bool:
    """Whether ``prompt`` belongs to the judge-fitting half.

    A hash of (seed, prompt) read as a number in [0, 1): deterministic across processes (Python's
    ``hash`` is salted), independent of the order and number of the pairs — and of the value, so a
    prompt two values share (helpful and honest share some) sits on the same side for both: a method
    training both adapters never trains on a prompt either evaluator learnt.
    """
    digest = hashlib.sha256(f"alignrun-crossfit-{seed}-{prompt}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


@dataclass(frozen=True)
class Split:
    """The two halves of one value's pairs (rows), and how they were made."""

    train: list[dict[str, Any]]
    judge: list[dict[str, Any]]
    seed: int
    fraction: float

    def record(self) -> dict[str, Any]:
        """results.json ``verdicts.<value>.crossfit``."""
        return {
            "train_pairs": len(self.train),
            "judge_pairs": len(self.judge),
            "judge_fraction": self.fraction,
            "split_seed": self.seed,
            "shared_prompts": len(prompts_of(self.train) & prompts_of(self.judge)),
        }


def split_pairs(pairs: Iterable[Mapping[str, Any]] | Any, seed: int, fraction: float) -> Split:
    """``pairs`` split by prompt into (training, judge-fitting) halves, ``fraction`` of prompts judging."""
    train: list[dict[str, Any]] = []
    judge: list[dict[str, Any]] = []
    for row in rows_of(pairs):
        (judge if in_judge_half(str(row["prompt"]), seed, fraction) else train).append(row)
    return Split(train, judge, seed, fraction)


def overlap(a: Sequence[Mapping[str, Any]] | Any, b: Sequence[Mapping[str, Any]] | Any) -> int:
    """How many prompts two pair sets share (0: a judge fitted on one never saw the other's prompts)."""
    return len(prompts_of(a) & prompts_of(b))

"""How much a steered model still says something: distinct word bigrams, and enough words.

Strong steering can collapse a model into repeating one word ("her her her ...") or into a few
words ("The problem. The"), and an embedding classifier may still read a value into either.
Fluency here is ``distinct-2`` (Li et al. 2016, "A Diversity-Promoting Objective Function for
Neural Conversation Models": unique word bigrams over all word bigrams, averaged over answers) times
``min(1, mean words / mean words without steering)``. Both collapses drive it towards 0 while
fluent answers stay near the unsteered model's own score, so steering searches keep only candidates
close to it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from itertools import pairwise
from typing import Any

BASELINE = "none"  # the setting whose answers define normal length


def distinct_2(text: str) -> float | None:
    """Unique word bigrams / word bigrams of ``text`` (None for fewer than two words)."""
    words = text.lower().split()
    bigrams = list(pairwise(words))
    return len(set(bigrams)) / len(bigrams) if bigrams else None


def mean_words(texts: Sequence[str]) -> float:
    return sum(len(t.split()) for t in texts) / len(texts) if texts else 0.0


def fluency(answers: Sequence[str], normal: Sequence[str] | float) -> float:
    """Mean distinct-2 of ``answers`` × ``min(1, mean words / normal mean words)``.

    ``normal``: the unsteered answers whose length is normal, or that mean word count.
    """
    words = normal if isinstance(normal, float | int) else mean_words(normal)
    scores = [d if d is not None else 0.0 for d in map(distinct_2, answers)]
    return sum(scores) / len(scores) * min(1.0, mean_words(answers) / (words or 1.0))


def setting_fluency(details: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """Per steering setting of ``samples.collect``'s details, the fluency of its answers (see above).

    Settings without answers (self-report profiles) are left out.
    """
    answers: dict[str, list[str]] = {}
    for sample in details:
        for item in sample["details"]:
            if "answer" in item:
                answers.setdefault(sample["setting"], []).append(item["answer"])
    words = {s: mean_words(texts) for s, texts in answers.items()}
    normal = words.get(BASELINE) or max(words.values(), default=1.0) or 1.0
    return {setting: fluency(texts, normal) for setting, texts in answers.items()}

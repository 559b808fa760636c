"""Pairwise accuracy of the bundled value scorers on held-out bundled pairs.

    python bench/scorer_accuracy.py            # prints a markdown table (docs/values.md)

Accuracy = share of held-out pairs whose chosen answer scores strictly above the rejected
one (ties count as half). Every scorer is fitted, if at all, on the training pairs only.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from alignrun.contracts import Scorer
from alignrun.data.bundled import eval_pairs, pairs
from alignrun.scorers.coverage import PromptCoverageScorer
from alignrun.scorers.phrase import refusal_scorer, uncertainty_scorer
from alignrun.scorers.preference import PreferenceScorer

VALUES = ("helpful", "harmless", "honest")


def pairwise_accuracy(scorer: Scorer, name: str) -> float:
    rows = list(eval_pairs(name))
    prompts = [r["prompt"] for r in rows]
    chosen = scorer.score(prompts, [r["chosen"] for r in rows])
    rejected = scorer.score(prompts, [r["rejected"] for r in rows])
    return sum(1.0 if c > r else 0.5 if c == r else 0.0 for c, r in zip(chosen, rejected, strict=True)) / len(
        rows
    )


SCORERS: dict[str, Callable[[str], Scorer]] = {
    "preference (MiniLM Bradley-Terry, default)": lambda name: PreferenceScorer(pairs(name)),
    "prompt coverage (lexical)": lambda name: PromptCoverageScorer(),
    "refusal phrases": lambda name: refusal_scorer(),
    "uncertainty phrases": lambda name: uncertainty_scorer(),
}


def main() -> None:
    print("| scorer | " + " | ".join(VALUES) + " |")
    print("|---|" + "---|" * len(VALUES))
    for label, make in SCORERS.items():
        start = time.perf_counter()
        accs = [pairwise_accuracy(make(v), v) for v in VALUES]
        print(
            f"| {label} | "
            + " | ".join(f"{a:.3f}" for a in accs)
            + f" |  <!-- {time.perf_counter() - start:.0f} s -->"
        )
    print(
        "\nheld-out pairs: "
        + ", ".join(f"{v} {len(eval_pairs(v))}" for v in VALUES)
        + "; training pairs: "
        + ", ".join(f"{v} {len(pairs(v))}" for v in VALUES)
    )


if __name__ == "__main__":
    main()

"""Pairwise accuracy of the bundled judges on held-out bundled pairs, beside the trivial baselines.

    python bench/scorer_accuracy.py            # two markdown tables (docs/values.md)

Accuracy = share of held-out pairs whose chosen answer scores strictly above the rejected one (ties
count half), with a 95% Wilson interval. Every judge is fitted, if at all, on training pairs only.
Baselines: "prefer the longer answer" and "prefer the refusal keyword" (alignrun.data.shortcuts);
a judge whose interval does not clear both measures the shortcut, not the value.

1. helpful, harmless, honest on their held-out pairs (``<value>.eval.jsonl``): the MiniLM
   Bradley-Terry ``PreferenceScorer`` (the default scorer) fitted on ``<value>.pairs.jsonl``, and the
   lexical scorers.
2. Schwartz's ten on their held-out stance pairs (one scenario, an answer acting on the value and one
   against it, matched in length): the derived exemplar judge (evaluator half of the exemplars, as a
   run builds it), the behavioural profile's classifier (all exemplars, centred against the other nine
   values: what ``profile=behavioural`` reads per value), and a ``PreferenceScorer`` fitted on the
   value's 60 training stance pairs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

from alignrun.contracts import Scorer
from alignrun.data.bundled import read_jsonl
from alignrun.data.shortcuts import longer_votes, refusal_votes, wilson
from alignrun.derive.scorer import ExemplarScorer, split_exemplars
from alignrun.profile.schwartz import SCHWARTZ_VALUES, schwartz_values
from alignrun.scorers.coverage import PromptCoverageScorer
from alignrun.scorers.phrase import refusal_scorer, uncertainty_scorer
from alignrun.scorers.preference import PreferenceScorer

VALUES = ("helpful", "harmless", "honest")
Rows = Sequence[Mapping[str, str]]


def votes(scorer: Scorer, rows: Rows) -> list[float]:
    """Per pair: 1 when the chosen answer scores above the rejected, 0.5 on a tie, else 0."""
    prompts = [r["prompt"] for r in rows]
    chosen = scorer.score(prompts, [r["chosen"] for r in rows])
    rejected = scorer.score(prompts, [r["rejected"] for r in rows])
    return [1.0 if c > r else 0.5 if c == r else 0.0 for c, r in zip(chosen, rejected, strict=True)]


def cell(v: Sequence[float]) -> str:
    lo, hi = wilson(sum(v), len(v))
    return f"{sum(v) / len(v):.2f} [{lo:.2f}, {hi:.2f}]"


def table(
    judges: Mapping[str, Callable[[str], Callable[[Rows], list[float]]]], values: Sequence[str]
) -> list[str]:
    held = {v: read_jsonl(f"{v}.eval.jsonl") for v in values}
    lines = ["| judge | " + " | ".join(values) + " |", "|---|" + "---|" * len(values)]
    for label, make in judges.items():
        start = time.perf_counter()
        cells = [cell(make(v)(held[v])) for v in values]
        lines.append(
            f"| {label} | " + " | ".join(cells) + f" |  <!-- {time.perf_counter() - start:.0f} s -->"
        )
    lines.append("")
    lines.append(
        "held-out pairs: "
        + ", ".join(f"{v} {len(held[v])}" for v in values)
        + "; training pairs: "
        + ", ".join(f"{v} {len(read_jsonl(f'{v}.pairs.jsonl'))}" for v in values)
    )
    return lines


def judged(make: Callable[[str], Scorer]) -> Callable[[str], Callable[[Rows], list[float]]]:
    return lambda v: lambda rows: votes(make(v), rows)


BASELINES: dict[str, Callable[[str], Callable[[Rows], list[float]]]] = {
    'baseline: "prefer the longer answer"': lambda v: longer_votes,
    'baseline: "prefer the refusal keyword"': lambda v: refusal_votes,
}
ALIGNMENT = {
    "preference (MiniLM Bradley-Terry, default)": judged(
        lambda v: PreferenceScorer(read_jsonl(f"{v}.pairs.jsonl"))
    ),
    "prompt coverage (lexical)": judged(lambda v: PromptCoverageScorer()),
    "refusal phrases": judged(lambda v: refusal_scorer()),
    "uncertainty phrases": judged(lambda v: uncertainty_scorer()),
    **BASELINES,
}


def _exemplar_judge(v: str) -> Scorer:
    """The derived scorer a run builds for a Schwartz value: the odd-position half of its exemplars."""
    _, evaluator = split_exemplars(schwartz_values()[v].exemplars or [])
    return ExemplarScorer(v, evaluator)


SCHWARTZ = {
    "derived exemplar judge (evaluator half)": judged(_exemplar_judge),
    "behavioural profile classifier (all exemplars)": judged(
        lambda v: ExemplarScorer(v, schwartz_values()[v].exemplars or [])
    ),
    "preference (MiniLM Bradley-Terry) on 60 stance pairs": judged(
        lambda v: PreferenceScorer(read_jsonl(f"{v}.pairs.jsonl"))
    ),
    **BASELINES,
}


def main() -> None:
    print("\n".join(table(ALIGNMENT, VALUES)))
    print()
    print("\n".join(table(SCHWARTZ, SCHWARTZ_VALUES)))


if __name__ == "__main__":
    main()

"""A value's scores broken down by the groups of its eval prompts (Do-Not-Answer's risk areas).

Per group: how many prompts, the judge's mean score with its bootstrap interval, and the refusal
rate (answers with a refusal keyword, :func:`alignrun.data.shortcuts.has_refusal`) with its Wilson
interval — the two figures safety benchmarks report per risk area, side by side, so a harmless score
can be read against how often the model simply refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from alignrun.data.shortcuts import has_refusal, wilson
from alignrun.uncertainty import mean_interval

if TYPE_CHECKING:
    from alignrun.evaluation import Evaluation


def group_breakdown(
    evaluation: Evaluation, groups: Mapping[str, Sequence[str | None]], seed: int = 0
) -> dict[str, dict[str, Any]]:
    """``{value: {group: {n, score, score_ci, refusal_rate, refusal_ci}}}`` for values with groups.

    ``groups[value][i]`` labels the value's ``i``-th eval prompt (prompts without a label are left out).
    A value without per-prompt scores gets the refusal rate only.
    """
    out: dict[str, dict[str, Any]] = {}
    for value, labels in groups.items():
        gen = evaluation.generations.get(value)
        if gen is None or not any(labels):
            continue
        scores = evaluation.per_prompt.get(value)
        rows: dict[str, Any] = {}
        for group in dict.fromkeys(g for g in labels if g is not None):
            idx = [i for i, g in enumerate(labels[: len(gen.responses)]) if g == group]
            refused = sum(has_refusal(gen.responses[i]) for i in idx)
            rec: dict[str, Any] = {
                "n": len(idx),
                "refusal_rate": refused / len(idx),
                "refusal_ci": list(wilson(refused, len(idx))),
            }
            if scores:
                iv = mean_interval([scores[i] for i in idx], seed)
                rec |= {"score": iv.estimate, "score_ci": iv.to_list()}
            rows[group] = rec
        out[value] = rows
    return out

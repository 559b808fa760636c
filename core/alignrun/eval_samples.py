"""``samples.jsonl``: every eval prompt, the final model's answer and its score (and the base's).

One row per value and prompt, so any score in ``results.json`` can be traced to the answers behind
it, and the report can show what a score means: the best- and worst-scored answers, and for a
trained or steered model the same prompts answered before (base) and after.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from alignrun.evaluation import Evaluation


def sample_rows(
    final: Evaluation,
    base: Evaluation | None = None,
    groups: Mapping[str, Sequence[str | None]] | None = None,
) -> list[dict[str, Any]]:
    """Rows ``{value, index, prompt, answer, score, tokens[, base_answer, base_score, base_tokens]}`` in
    prompt order (``tokens``: the answer's length in the model's tokens, for length control); a value
    whose eval prompts carry groups (``RunData.eval_groups``) also has each prompt's ``group``.

    ``score`` is None for a value without per-prompt scores (a scorer-less value, or a plugin
    that returned only a mean).
    """
    rows = []
    for value, gen in final.generations.items():
        scores = final.per_prompt.get(value)
        before = base.generations.get(value) if base is not None else None
        before_scores = base.per_prompt.get(value) if base is not None else None
        lengths = final.lengths.get(value)
        before_lengths = base.lengths.get(value) if base is not None else None
        for i, (prompt, answer) in enumerate(zip(gen.prompts, gen.responses, strict=True)):
            row: dict[str, Any] = {
                "value": value,
                "index": i,
                "prompt": prompt,
                "answer": answer,
                "score": scores[i] if scores else None,
                "tokens": lengths[i] if lengths else None,
            }
            if groups and groups.get(value):
                row["group"] = groups[value][i]
            if before is not None and i < len(before.responses) and before.prompts[i] == prompt:
                row["base_answer"] = before.responses[i]
                row["base_score"] = before_scores[i] if before_scores else None
                row["base_tokens"] = before_lengths[i] if before_lengths else None
            rows.append(row)
    return rows


def examples(rows: Sequence[dict[str, Any]], value: str, k: int = 2) -> dict[str, list[dict[str, Any]]]:
    """A value's ``k`` best- and worst-scored rows, and the ``k`` whose score moved most from the base.

    Best and worst exclude each other, so with few prompts the lists may be shorter than ``k``.
    """
    scored = sorted(
        (r for r in rows if r["value"] == value and r["score"] is not None), key=lambda r: r["score"]
    )
    worst = scored[: min(k, len(scored) // 2)]
    best = scored[::-1][: min(k, len(scored) - len(worst))]
    moved = [r for r in scored if r.get("base_score") is not None and r["answer"] != r.get("base_answer")]
    moved.sort(key=lambda r: -abs(r["score"] - r["base_score"]))
    return {"best": best, "worst": worst, "changed": moved[:k]}

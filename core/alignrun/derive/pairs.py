"""On-policy preference pairs for a value that has none, the way RLAIF / constitutional pipelines make them.

For each of the value's training prompts the model itself answers ``samples`` times under each of
three system prompts — none (``neutral``), the value's definition (``value``: "You value X, which
means ...") and its negation (``anti``) — sampled at ``temperature``. The judge (the value's scorer,
or the judge the user names) scores every answer *to the plain prompt* (the pair never shows the
system prompt, so DPO learns the behaviour without the instruction). The best and the worst answer
of a prompt become ``chosen``/``rejected`` when their judged margin is at least ``margin``; the
other prompts yield nothing. Reported: the yield (kept / prompts), the mean margin, which condition
the chosen and the rejected answers came from, and the judge's agreement with held-out labelled
pairs where the value has them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from alignrun.contracts import Scorer, Value
from alignrun.errors import AlignrunError
from alignrun.interventions import value_prompt_text
from alignrun.schema import GenerationConfig

if TYPE_CHECKING:
    from alignrun.lm import LM

CONDITIONS = ("neutral", "value", "anti")


def condition_systems(value: Value) -> dict[str, str | None]:
    """The system prompt of each sampling condition."""
    return {
        "neutral": None,
        "value": value_prompt_text(value, "up"),
        "anti": value_prompt_text(value, "down"),
    }


def derive_pairs(
    lm: LM,
    value: Value,
    prompts: Sequence[str],
    judge: Scorer,
    *,
    samples: int,
    temperature: float,
    max_new_tokens: int,
    margin: float,
    batch_size: int,
    seed: int,
    progress: bool = False,
) -> dict[str, Any]:
    """Sample, judge and pair (module docstring). Returns ``{"rows": [...], "stats": {...}}``.

    ``rows`` are ``{"prompt", "chosen", "rejected", "margin", "chosen_condition", "rejected_condition"}``.
    """
    systems = condition_systems(value)
    keys = [(p, c) for p in prompts for c in CONDITIONS for _ in range(samples)]
    cfg = GenerationConfig(
        max_new_tokens=max_new_tokens, batch_size=batch_size, do_sample=True, temperature=temperature,
        progress=progress,
    )  # fmt: skip
    answers = lm.generate([p for p, _ in keys], cfg, seed=seed, systems=[systems[c] for _, c in keys])
    scores = judge.score([p for p, _ in keys], answers)
    if len(scores) != len(answers):
        raise AlignrunError(
            f"the judge of value '{value.name}' returned {len(scores)} scores for {len(answers)}"
        )
    per_prompt: dict[str, list[tuple[float, str, str]]] = {}
    for (prompt, condition), answer, score in zip(keys, answers, scores, strict=True):
        if answer.strip():
            per_prompt.setdefault(prompt, []).append((float(score), answer, condition))
    rows: list[dict[str, Any]] = []
    for prompt in prompts:
        judged = sorted(per_prompt.get(prompt, []), key=lambda t: t[0])
        if len(judged) < 2:
            continue
        (low, rejected, r_cond), (high, chosen, c_cond) = judged[0], judged[-1]
        if high - low >= margin and chosen != rejected:
            rows.append({
                "prompt": prompt, "chosen": chosen, "rejected": rejected, "margin": high - low,
                "chosen_condition": c_cond, "rejected_condition": r_cond,
            })  # fmt: skip
    stats = {
        "prompts": len(prompts),
        "answers": len(answers),
        "empty_answers": sum(not a.strip() for a in answers),
        "pairs": len(rows),
        "yield": len(rows) / len(prompts) if prompts else 0.0,
        "mean_margin": sum(r["margin"] for r in rows) / len(rows) if rows else 0.0,
        "mean_judge_score": {
            c: _mean([s for (_, k), s in zip(keys, scores, strict=True) if k == c]) for c in CONDITIONS
        },
        "chosen_from": dict(Counter(r["chosen_condition"] for r in rows)),
        "rejected_from": dict(Counter(r["rejected_condition"] for r in rows)),
        "answers_per_condition": samples * len(prompts),
    }
    return {"rows": rows, "stats": stats}


def judge_agreement(judge: Scorer, pairs: Any) -> dict[str, float] | None:
    """How often ``judge`` scores a labelled pair's chosen answer above its rejected one (ties: half).

    ``pairs``: rows or a ``datasets.Dataset`` with ``prompt``, ``chosen``, ``rejected``; None -> None.
    """
    if pairs is None:
        return None
    rows = [dict(r) for r in pairs]
    if not rows:
        return None
    prompts = [r["prompt"] for r in rows]
    chosen = judge.score(prompts, [r["chosen"] for r in rows])
    rejected = judge.score(prompts, [r["rejected"] for r in rows])
    wins = [1.0 if c > r else 0.5 if c == r else 0.0 for c, r in zip(chosen, rejected, strict=True)]
    return {"accuracy": sum(wins) / len(wins), "pairs": float(len(wins))}


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else 0.0

"""Evaluate a model (optionally steered) on every value: generate, then merge ``alignrun_evaluate``.

:func:`evaluate` is what the core loop calls for the final model and what methods call for
each candidate they produce, so candidates and final scores are measured the same way.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from alignrun.errors import AlignrunError

if TYPE_CHECKING:
    from alignrun.contracts import Intervention, Run, Value
    from alignrun.lm import LM

SCORE_PREFIX = "score/"
PROFILE_PREFIX = "profile/"


@dataclass(frozen=True)
class Generations:
    """A value's eval prompts and one model's responses to them (same order)."""

    prompts: list[str]
    responses: list[str]


@dataclass(frozen=True)
class Evaluation:
    """What ``alignrun_evaluate`` returned, split by key prefix.

    ``score/<value>`` -> ``scores`` (higher = more aligned), ``profile/<value>`` ->
    ``value_profile`` (questionnaire scores in [-1, 1]; None when nothing measured one),
    anything else -> ``metrics``.
    """

    scores: dict[str, float]
    metrics: dict[str, float]
    value_profile: dict[str, float] | None = None


def merge_metrics(parts: Iterable[Mapping[str, float] | None]) -> dict[str, float]:
    """Merge the dicts returned by ``alignrun_evaluate`` implementations.

    Raises:
        AlignrunError: two implementations returned the same key.
    """
    merged: dict[str, float] = {}
    for part in parts:
        for key, value in (part or {}).items():
            if key in merged:
                raise AlignrunError(f"two alignrun_evaluate implementations both returned metric '{key}'")
            merged[key] = float(value)
    return merged


def score_values(values: Mapping[str, Value], generations: Mapping[str, Generations]) -> dict[str, float]:
    """Mean scorer score of each value's responses, as ``score/<value>`` (the core default)."""
    out: dict[str, float] = {}
    for name, gen in generations.items():
        scorer = values[name].scorer
        if scorer is None or not gen.responses:
            continue
        scores = scorer.score(gen.prompts, gen.responses)
        if len(scores) != len(gen.responses):
            raise AlignrunError(
                f"scorer of value '{name}' returned {len(scores)} scores for {len(gen.responses)} responses"
            )
        mean = sum(scores) / len(scores)
        if not math.isfinite(mean):
            raise AlignrunError(f"scorer of value '{name}' returned a non-finite score")
        out[SCORE_PREFIX + name] = mean
    return out


def evaluate(
    run: Run,
    lm: LM,
    interventions: Iterable[Intervention] = (),
    profile: bool = True,
    max_prompts: int | None = None,
) -> Evaluation:
    """Generate every value's eval prompts with ``lm`` under ``interventions`` and evaluate.

    All values' prompts go through ``alignrun_generate`` in one call so batching spans values.
    ``profile=False`` skips the value profile (methods scoring many candidates need only scores);
    ``max_prompts`` keeps the first that many prompts of each value (a cheaper, noisier score).
    """
    if not profile and run.profiler is not None:
        profiler, run.profiler = run.profiler, None
        try:
            return evaluate(run, lm, interventions, max_prompts=max_prompts)
        finally:
            run.profiler = profiler
    per_value = {n: run.data.eval_prompts.get(n, [])[:max_prompts] for n in run.values}
    names = [n for n in run.values if per_value[n]]
    prompts = [p for n in names for p in per_value[n]]
    with contextlib.ExitStack() as stack:
        steered = lm
        for intervention in interventions:
            steered = stack.enter_context(intervention.apply(steered))
        responses = run.hook.alignrun_generate(run=run, lm=steered, prompts=prompts) if prompts else []
        if len(responses) != len(prompts):
            raise AlignrunError(
                f"alignrun_generate returned {len(responses)} responses for {len(prompts)} prompts"
            )
        generations: dict[str, Generations] = {}
        start = 0
        for n in names:
            k = len(per_value[n])
            generations[n] = Generations(prompts[start : start + k], list(responses[start : start + k]))
            start += k
        merged = merge_metrics(run.hook.alignrun_evaluate(run=run, lm=steered, generations=generations))
    return split_metrics(merged)


def split_metrics(merged: Mapping[str, float]) -> Evaluation:
    """Split merged evaluate metrics by their ``score/`` and ``profile/`` prefixes."""
    scores = {k[len(SCORE_PREFIX) :]: v for k, v in merged.items() if k.startswith(SCORE_PREFIX)}
    profile = {k[len(PROFILE_PREFIX) :]: v for k, v in merged.items() if k.startswith(PROFILE_PREFIX)}
    metrics = {k: v for k, v in merged.items() if not k.startswith((SCORE_PREFIX, PROFILE_PREFIX))}
    return Evaluation(scores=scores, metrics=metrics, value_profile=profile or None)

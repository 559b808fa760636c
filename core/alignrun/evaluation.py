"""Evaluate a model (optionally steered) on every value: generate, then merge ``alignrun_evaluate``.

:func:`evaluate` is what the core loop calls for the final model and what methods call for
each candidate they produce, so candidates and final scores are measured the same way.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from alignrun.errors import AlignrunError
from alignrun.uncertainty import Interval, mean_interval

if TYPE_CHECKING:
    from alignrun.contracts import Intervention, Value
    from alignrun.lm import LM
    from alignrun.run import Run

SCORE_PREFIX = "score/"
PROFILE_PREFIX = "profile/"
TOKENS_PER_S = "generation/tokens_per_s"  # answer tokens per second of the eval generation


@dataclass(frozen=True)
class Generations:
    """A value's eval prompts and one model's responses to them (same order)."""

    prompts: list[str]
    responses: list[str]


# What an ``alignrun_evaluate`` implementation may return per key: a number, per-item scores
# (the core takes their mean and a bootstrap interval over items), or an estimate that already
# carries its interval (a value profile, whose score is not a plain mean).
Measured = float | Sequence[float] | Interval


@dataclass(frozen=True)
class Evaluation:
    """What ``alignrun_evaluate`` returned, split by key prefix.

    ``score/<value>`` -> ``scores`` (higher = more aligned), ``profile/<value>`` ->
    ``value_profile`` (questionnaire scores in [-1, 1]; None when nothing measured one),
    anything else -> ``metrics``. ``intervals`` (same keys, with their prefix) holds the 95%
    interval of every key that came with per-item scores or an interval; ``per_item`` the per-item
    scores themselves (for ``score/<value>``: one per eval prompt, in prompt order);
    ``generations`` the prompts and answers they were computed from; ``lengths`` each answer's
    length in the model's tokens, per value in prompt order (length control, ``alignrun.uncertainty``);
    ``reuse`` whether it was read from the user cache (``{"hit": true, "entry", "measured_s"}``), or
    why not, for evaluations of the unmodified model (None for the others).
    """

    scores: dict[str, float]
    metrics: dict[str, float]
    value_profile: dict[str, float] | None = None
    intervals: dict[str, Interval] = field(default_factory=dict)
    per_item: dict[str, list[float]] = field(default_factory=dict)
    generations: dict[str, Generations] = field(default_factory=dict)
    lengths: dict[str, list[int]] = field(default_factory=dict)
    reuse: dict[str, Any] | None = None

    def _strip(self, prefix: str) -> dict[str, Interval]:
        return {k[len(prefix) :]: v for k, v in self.intervals.items() if k.startswith(prefix)}

    @property
    def scores_ci(self) -> dict[str, Interval]:
        """Value -> the interval of its score (values whose scorer gave per-prompt scores)."""
        return self._strip(SCORE_PREFIX)

    @property
    def profile_ci(self) -> dict[str, Interval]:
        return self._strip(PROFILE_PREFIX)

    @property
    def per_prompt(self) -> dict[str, list[float]]:
        """Value -> its per-prompt scores, in the order of its eval prompts."""
        return {k[len(SCORE_PREFIX) :]: v for k, v in self.per_item.items() if k.startswith(SCORE_PREFIX)}


def merge_metrics(parts: Iterable[Mapping[str, Measured] | None]) -> dict[str, Measured]:
    """Merge the dicts returned by ``alignrun_evaluate`` implementations.

    Raises:
        AlignrunError: two implementations returned the same key.
    """
    merged: dict[str, Measured] = {}
    for part in parts:
        for key, value in (part or {}).items():
            if key in merged:
                raise AlignrunError(f"two alignrun_evaluate implementations both returned metric '{key}'")
            merged[key] = value
    return merged


def score_values(
    values: Mapping[str, Value], generations: Mapping[str, Generations]
) -> dict[str, list[float]]:
    """Each value's per-prompt scorer scores, as ``score/<value>`` (the core default)."""
    out: dict[str, list[float]] = {}
    for name, gen in generations.items():
        scorer = values[name].scorer
        if scorer is None or not gen.responses:
            continue
        scores = [float(x) for x in scorer.score(gen.prompts, gen.responses)]
        if len(scores) != len(gen.responses):
            raise AlignrunError(
                f"scorer of value '{name}' returned {len(scores)} scores for {len(gen.responses)} responses"
            )
        bad = sum(not math.isfinite(x) for x in scores)
        if bad:  # an LLM judge's unparseable reply is NaN: counted, never scored as 0 or left out unpaired
            raise AlignrunError(
                f"scorer of value '{name}' could not score {bad} of {len(scores)} answers (non-finite "
                "scores, e.g. an LLM judge's unparseable replies; raise its retries or fix its rubric)"
            )
        out[SCORE_PREFIX + name] = scores
    return out


def evaluate(
    run: Run,
    lm: LM,
    interventions: Iterable[Intervention] = (),
    profile: bool = True,
    max_prompts: int | None = None,
    reuse: bool = False,
) -> Evaluation:
    """Generate every value's eval prompts with ``lm`` under ``interventions`` and evaluate.

    All values' prompts go through ``alignrun_generate`` in one call so batching spans values.
    ``profile=False`` skips the value profile (methods scoring many candidates need only scores);
    ``max_prompts`` keeps the first that many prompts of each value (a cheaper, noisier score).
    ``reuse``: the evaluation is of the unmodified model (the loop's base and a ``none`` run's final):
    kept in the user cache by content and, without a value profile, read back from it
    (:mod:`alignrun.evaluation_cache`); ``Evaluation.reuse`` says what happened.
    """
    from alignrun import evaluation_cache

    interventions = list(interventions)
    per_value = {n: run.data.eval_prompts.get(n, [])[:max_prompts] for n in run.values}
    per_value = {n: p for n, p in per_value.items() if p}
    k = evaluation_cache.key(run, lm, interventions, per_value) if reuse else None
    if isinstance(k, evaluation_cache.Key) and not (profile and run.profiler is not None):
        found = evaluation_cache.lookup(k)  # not with a profile: its answers are this run's artefact
        if found is not None:
            gens = {n: Generations(g["prompts"], g["responses"]) for n, g in found["generations"].items()}
            ev = split_metrics(found["merged"], int(run.cfg.seed), gens, found["lengths"])
            record = {"hit": True, "entry": k.path.name, "measured_s": round(found["seconds"], 1)}
            return dataclasses.replace(ev, reuse=record)
    t = time.perf_counter()
    merged, generations, lengths = _measure(run, lm, interventions, per_value, profile)
    seconds = time.perf_counter() - t
    if isinstance(k, evaluation_cache.Key):  # what was scored, not a profile or some machine's speed
        kept = {n: v for n, v in merged.items() if not n.startswith(PROFILE_PREFIX) and n != TOKENS_PER_S}
        evaluation_cache.store(k, kept, generations, lengths, seconds)
    ev = split_metrics(merged, int(run.cfg.seed), generations, lengths)
    if k is None:
        return ev
    record = {"hit": False, "why": k} if isinstance(k, str) else {"hit": False, "entry": k.path.name}
    return dataclasses.replace(ev, reuse=record)


def _measure(
    run: Run,
    lm: LM,
    interventions: list[Intervention],
    per_value: dict[str, list[str]],
    profile: bool,
) -> tuple[dict[str, Measured], dict[str, Generations], dict[str, list[int]]]:
    """What :func:`evaluate` computes: the merged ``alignrun_evaluate`` metrics, answers, their lengths."""
    names = list(per_value)
    prompts = [p for n in names for p in per_value[n]]
    with contextlib.ExitStack() as stack:
        steered = lm
        for intervention in interventions:
            steered = stack.enter_context(intervention.apply(steered))
        t = time.perf_counter()
        responses = run.hook.alignrun_generate(run=run, lm=steered, prompts=prompts) if prompts else []
        seconds = time.perf_counter() - t
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
        merged = merge_metrics(
            run.hook.alignrun_evaluate(run=run, lm=steered, generations=generations, profile=profile)
        )
    tokens = answer_tokens(lm, responses)
    if responses and seconds > 0:  # the cost of steering shows as generation speed vs the base
        merged.setdefault(TOKENS_PER_S, sum(tokens) / seconds)
    lengths, start = {}, 0
    for n in names:
        lengths[n] = tokens[start : start + len(per_value[n])]
        start += len(per_value[n])
    return merged, generations, lengths


def answer_tokens(lm: LM, responses: Sequence[str]) -> list[int]:
    """Each answer's length in ``lm``'s tokens (no special tokens): what length control regresses on."""
    if not responses:
        return []
    return [len(ids) for ids in lm.tokenizer(list(responses), add_special_tokens=False)["input_ids"]]


def split_metrics(
    merged: Mapping[str, Measured],
    seed: int = 0,
    generations: Mapping[str, Generations] | None = None,
    lengths: Mapping[str, list[int]] | None = None,
) -> Evaluation:
    """Reduce merged evaluate metrics to numbers with intervals and split them by key prefix.

    Per-item scores become their mean with a seeded bootstrap interval (``mean_interval``).
    """
    values: dict[str, float] = {}
    intervals: dict[str, Interval] = {}
    per_item: dict[str, list[float]] = {}
    for key, measured in merged.items():
        if isinstance(measured, Interval):
            values[key], intervals[key] = measured.estimate, measured
        elif isinstance(measured, Sequence):
            if not measured:
                continue  # nothing was scored: no score rather than a mean of nothing
            items = [float(x) for x in measured]
            intervals[key] = mean_interval(items, seed)
            values[key], per_item[key] = intervals[key].estimate, items
        else:
            values[key] = float(measured)
        if not math.isfinite(values[key]):
            raise AlignrunError(f"alignrun_evaluate returned a non-finite '{key}'")
    scores = {k[len(SCORE_PREFIX) :]: v for k, v in values.items() if k.startswith(SCORE_PREFIX)}
    profile = {k[len(PROFILE_PREFIX) :]: v for k, v in values.items() if k.startswith(PROFILE_PREFIX)}
    metrics = {k: v for k, v in values.items() if not k.startswith((SCORE_PREFIX, PROFILE_PREFIX))}
    return Evaluation(
        scores=scores,
        metrics=metrics,
        value_profile=profile or None,
        intervals=intervals,
        per_item=per_item,
        generations=dict(generations or {}),
        lengths=dict(lengths or {}),
    )

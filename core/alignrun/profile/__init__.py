"""``profile=``: measure a model's value profile (one score in [-1, 1] per value of a value system).

Modes (docs/architecture.md, "Measuring values"): ``logprob`` and ``generate`` are self-report (yes/no
questionnaire
items); ``behavioural`` scores the model's answers to open scenarios with an embedding
classifier. The core loop measures the profile of the final (steered) model and reports
it as ``value_profile``; methods such as ``manipulation_check`` call :meth:`measure` directly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from alignrun.errors import AlignrunError
from alignrun.uncertainty import Interval, mean_interval

if TYPE_CHECKING:
    from alignrun.contracts import Value
    from alignrun.lm import LM

MODES = ("behavioural", "logprob", "generate")


def spread(items: list[str], k: int) -> list[str]:
    """``k`` items evenly spread over ``items`` (all of them when ``k`` >= their number)."""
    if k >= len(items):
        return list(items)
    return [items[i * len(items) // k] for i in range(k)]


@dataclass
class ProfileResult:
    """Scores per value and, per item or scenario, what the model said (for inspection).

    ``items``: per value, what each item or scenario contributed (self-report: polarity-signed
    ``2·p_yes - 1``; behavioural: the answer's centred similarity), so that ``scores[v]`` is
    ``mean(items[v])`` (self-report) or ``tanh(mean(items[v]) / temperature)`` (behavioural).
    """

    scores: dict[str, float]
    details: list[dict[str, Any]] = field(default_factory=list)
    items: dict[str, list[float]] = field(default_factory=dict)
    temperature: float | None = None

    def intervals(self, seed: int = 0) -> dict[str, Interval]:
        """Per value, a bootstrap interval over items/scenarios (``tanh`` is monotone, so the
        behavioural interval is the mean's interval mapped through it)."""
        out = {}
        for value, xs in self.items.items():
            iv = mean_interval(xs, seed)
            if self.temperature is not None:
                t = self.temperature
                lo, hi = math.tanh(iv.lo / t), math.tanh(iv.hi / t)
                iv = Interval(math.tanh(iv.estimate / t), lo, hi, iv.level)
            out[value] = iv
        return out


class ValueProfiler:
    """Measures value profiles in one mode over one value system.

    Args:
        mode: ``behavioural`` | ``logprob`` | ``generate``.
        values: the value system, name -> Value (questionnaire for self-report, exemplars for behavioural).
        scenarios: open scenarios the model answers in ``behavioural`` mode.
        max_new_tokens: answer length in ``behavioural`` mode.
        batch_size: prompts per forward pass / generate call.
        temperature: the behavioural profile's ``tanh`` scale (cosine-similarity units).
        items: questionnaire items per value in self-report modes, half of each polarity (None: all).
    """

    def __init__(
        self,
        mode: str,
        values: dict[str, Value],
        scenarios: list[str] | None = None,
        max_new_tokens: int = 64,
        batch_size: int = 16,
        temperature: float = 0.03,
        items: int | None = None,
    ) -> None:
        if mode not in MODES:
            raise AlignrunError(f"profile.mode must be one of {', '.join(MODES)}, got '{mode}'")
        if mode == "behavioural" and not scenarios:
            raise AlignrunError("profile.mode=behavioural needs scenarios")
        if mode != "behavioural" and not any(v.questionnaire for v in values.values()):
            raise AlignrunError(f"profile.mode={mode} needs values with questionnaire items")
        self.mode = mode
        self.values = values
        self.scenarios = list(scenarios or [])
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        self.temperature = temperature
        self.items = items

    def measure(self, lm: LM) -> ProfileResult:
        """The profile of ``lm`` as it is now (steering applied by the caller)."""
        return self.measure_many(lm, [None])[0]

    def measure_many(self, lm: LM, systems: Sequence[str | None]) -> list[ProfileResult]:
        """One profile per system text (a role; None: no role), all in shared batches.

        Each text goes before whatever steering the caller applied (``LM.chat``), so
        ``measure_many(lm, [r.text for r in roles])`` equals measuring under each ``Role`` in turn.
        """
        if self.mode == "behavioural":
            return self._behavioural(lm, systems)
        from alignrun.profile import self_report

        prompts, keys = self_report.item_prompts(self.values, self.items)
        all_prompts = prompts * len(systems)
        all_systems = [s for s in systems for _ in prompts]
        if self.mode == "logprob":
            p_yes = self_report.logprob_p_yes(lm, all_prompts, self.batch_size, all_systems)
        else:
            p_yes = self_report.generate_p_yes(lm, all_prompts, self.batch_size, all_systems)
        results = []
        for k in range(len(systems)):
            part = p_yes[k * len(prompts) : (k + 1) * len(prompts)]
            details = [
                {"value": v, "polarity": pol, "prompt": p, "p_yes": py}
                for (v, pol), p, py in zip(keys, prompts, part, strict=True)
            ]
            scores = self_report.aggregate(keys, part, list(self.values))
            results.append(ProfileResult(scores, details, self_report.item_scores(keys, part)))
        return results

    def _behavioural(self, lm: LM, systems: Sequence[str | None]) -> list[ProfileResult]:
        from alignrun.embeddings import default_embedder
        from alignrun.profile.behavioural import profiles_from_answers
        from alignrun.schema import GenerationConfig

        cfg = GenerationConfig(max_new_tokens=self.max_new_tokens, batch_size=self.batch_size, progress=False)
        n = len(self.scenarios)
        answers = lm.generate(
            self.scenarios * len(systems), cfg, systems=[s for s in systems for _ in range(n)]
        )
        groups = [answers[k * n : (k + 1) * n] for k in range(len(systems))]
        profiles = profiles_from_answers(groups, self.values, default_embedder(), self.temperature)
        return [
            ProfileResult(
                scores,
                [{"scenario": s, "answer": a} for s, a in zip(self.scenarios, group, strict=True)],
                items,
                self.temperature,
            )
            for (scores, items), group in zip(profiles, groups, strict=True)
        ]

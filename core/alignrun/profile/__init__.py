"""``profile=``: measure a model's value profile (one score in [-1, 1] per value of a value system).

Modes (DESIGN.md §1.2): ``logprob`` and ``generate`` are self-report (yes/no questionnaire
items); ``behavioural`` scores the model's answers to open scenarios with an embedding
classifier. The core loop measures the profile of the final (steered) model and reports
it as ``value_profile``; methods such as ``manipulation_check`` call :meth:`measure` directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from alignrun.errors import AlignrunError

if TYPE_CHECKING:
    from alignrun.contracts import Value
    from alignrun.lm import LM

MODES = ("behavioural", "logprob", "generate")


@dataclass
class ProfileResult:
    """Scores per value and, per item or scenario, what the model said (for inspection)."""

    scores: dict[str, float]
    details: list[dict[str, Any]] = field(default_factory=list)


class ValueProfiler:
    """Measures value profiles in one mode over one value system.

    Args:
        mode: ``behavioural`` | ``logprob`` | ``generate``.
        values: the value system, name -> Value (questionnaire for self-report, exemplars for behavioural).
        scenarios: open scenarios the model answers in ``behavioural`` mode.
        max_new_tokens: answer length in ``behavioural`` mode.
        batch_size: prompts per forward pass / generate call.
        temperature: the behavioural profile's ``tanh`` scale (cosine-similarity units).
    """

    def __init__(
        self,
        mode: str,
        values: dict[str, Value],
        scenarios: list[str] | None = None,
        max_new_tokens: int = 64,
        batch_size: int = 16,
        temperature: float = 0.03,
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

    def measure(self, lm: LM) -> ProfileResult:
        """The profile of ``lm`` as it is now (steering applied by the caller)."""
        if self.mode == "behavioural":
            return self._behavioural(lm)
        from alignrun.profile import self_report

        prompts, keys = self_report.item_prompts(self.values)
        if self.mode == "logprob":
            p_yes = self_report.logprob_p_yes(lm, prompts, self.batch_size)
        else:
            p_yes = self_report.generate_p_yes(lm, prompts, self.batch_size)
        scores = self_report.aggregate(keys, p_yes, list(self.values))
        details = [
            {"value": v, "polarity": pol, "prompt": p, "p_yes": py}
            for (v, pol), p, py in zip(keys, prompts, p_yes, strict=True)
        ]
        return ProfileResult(scores, details)

    def _behavioural(self, lm: LM) -> ProfileResult:
        from alignrun.config import GenerationConfig
        from alignrun.embeddings import default_embedder
        from alignrun.profile.behavioural import profile_from_answers

        cfg = GenerationConfig(max_new_tokens=self.max_new_tokens, batch_size=self.batch_size, progress=False)
        answers = lm.generate(self.scenarios, cfg)
        scores = profile_from_answers(answers, self.values, default_embedder(), self.temperature)
        return ProfileResult(
            scores, [{"scenario": s, "answer": a} for s, a in zip(self.scenarios, answers, strict=True)]
        )

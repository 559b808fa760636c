"""The ``concise`` value's scorer: short answers score high, long ones decay towards -1."""

from __future__ import annotations

from collections.abc import Sequence

from alignrun.settings import from_yaml, signature_from


@signature_from("values/concise.yaml", "concise.scorer")
class ConciseScorer:
    """Score in [-1, 1] by word count ``w`` (whitespace-separated), with ``m = max_words``:

    ``1`` for ``0 < w <= m``; ``2 * m / w - 1`` for ``w > m`` (0 at twice the limit, -1 as
    ``w`` grows); ``-1`` for an empty answer, which is not concise but missing. Continuous at
    ``w = m``, so a best-of-n search sees a gradient rather than a cliff.

    Args:
        max_words: the longest answer that still scores 1.
    """

    def __init__(self, max_words: int = from_yaml()) -> None:
        if max_words < 1:
            raise ValueError(f"max_words must be at least 1, got {max_words}")
        self.max_words = max_words

    def score_one(self, response: str) -> float:
        """The score of one response (the prompt does not matter for conciseness)."""
        words = len(response.split())
        if words == 0:
            return -1.0
        return 2.0 * min(1.0, self.max_words / words) - 1.0

    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> list[float]:
        """One score per response, in order; ``prompts`` is accepted for the Scorer protocol."""
        return [self.score_one(r) for r in responses]

"""Judges: what scores a value — the *trainer* judge (derived pairs, RLHF rewards, searches) and the
*evaluator* judge (every reported score), kept apart and checked for validity.

A judge is any :class:`alignrun.contracts.Scorer` (``score(prompts, responses) -> list[float]``).
Optional parts a judge may have, which alignrun uses when present:

- ``describe() -> dict``: what it is and what it was fitted on (results.json ``verdicts``/``judges``);
- ``score_range``: ``(lo, hi)`` of its scores;
- ``with_pairs(rows) -> judge``: a copy fitted on other preference pairs (cross-fitting,
  :mod:`alignrun.judges.crossfit`);
- ``prefer(prompts, first, second) -> list[float | None]``: a pairwise judge's probability that
  ``first`` is the better answer (None: its answer could not be parsed).

See docs/judges.md.
"""

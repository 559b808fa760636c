"""Results that ran but say nothing: each gets a warning, in the log and in the report.

A run that "succeeds" on empty answers, on candidates that all score alike, or with a final model
that answers exactly as the base did, must say so where the numbers are read — not leave a
reader to find out from the samples.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alignrun.contracts import Candidate
    from alignrun.evaluation import Evaluation

log = logging.getLogger("alignrun")


def warn_degenerate(evaluation: Evaluation, base: Evaluation | None, candidates: list[Candidate]) -> None:
    """Log a warning for each degenerate part of a run's outcome."""
    answers = [r for g in evaluation.generations.values() for r in g.responses]
    if answers and not any(a.strip() for a in answers):
        log.warning(
            "every answer of the final model is empty: its scores measure the scorers' empty-answer score"
        )
    elif answers and len(set(answers)) == 1:
        log.warning("the final model gives the same answer to every eval prompt: %r", answers[0][:80])
    if base is not None and answers:
        before = [r for g in base.generations.values() for r in g.responses]
        if before == answers:
            log.warning(
                "the final model answers every eval prompt exactly as the base model did: "
                "the method changed nothing the evaluation can see"
            )
    if len(candidates) > 1 and len({tuple(sorted(c.scores.items())) for c in candidates}) == 1:
        log.warning(
            "all %d candidates score the same on every value: the front holds all of them and ranks nothing",
            len(candidates),
        )
    profile = evaluation.value_profile
    if profile and len(profile) > 1 and len(set(profile.values())) == 1:
        log.warning(
            "the value profile is flat (every value %s): its answers are likely empty or repeated",
            next(iter(profile.values())),
        )


class WarningLog(logging.Handler):
    """Keeps the warnings alignrun's logger emits between :meth:`attach` and :meth:`detach`, in
    order (results.json ``warnings``, the report's Warnings section)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    def attach(self) -> WarningLog:
        log.addHandler(self)
        return self

    def detach(self) -> None:
        log.removeHandler(self)

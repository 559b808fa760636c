"""Trivial baselines a preference-pair file must not reward: "prefer the longer answer" and
"prefer the answer with a refusal keyword".

A pair file on which either baseline agrees with the labels far from half the time teaches (and
grades) the shortcut instead of the value: a judge fitted on it, or an adapter trained on it, can
learn "write more" or "refuse" and look good (Park et al. 2024, "Disentangling Length from Quality in
DPO"; Dubois et al. 2024, AlpacaEval's length-controlled win rate). The bundled files are kept with
both baselines in [0.40, 0.60] (tested); your own files get a warning naming the shortcut.

Agreement counts a tie (equal lengths; both or neither answer with a refusal keyword) as half, as
the scorers' pairwise accuracy does.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from alignrun.scorers.phrase import REFUSAL_PHRASES

BALANCED = (0.40, 0.60)  # both baselines of a file that measures the value lie in here


def has_refusal(text: str) -> bool:
    """Whether ``text`` contains a refusal keyword (``alignrun.scorers.phrase.REFUSAL_PHRASES``)."""
    low = text.lower().replace("’", "'")
    return any(phrase in low for phrase in REFUSAL_PHRASES)


def _vote(chosen: float, rejected: float) -> float:
    return 1.0 if chosen > rejected else 0.5 if chosen == rejected else 0.0


def longer_votes(rows: Iterable[Mapping[str, str]]) -> list[float]:
    """Per pair: 1 when the chosen answer has more characters than the rejected, 0.5 on a tie, else 0."""
    return [_vote(len(r["chosen"]), len(r["rejected"])) for r in rows]


def refusal_votes(rows: Iterable[Mapping[str, str]]) -> list[float]:
    """Per pair: 1 when only the chosen answer has a refusal keyword, 0 when only the rejected one has,
    0.5 when both or neither have."""
    return [_vote(has_refusal(r["chosen"]), has_refusal(r["rejected"])) for r in rows]


BASELINES = {"longer answer": longer_votes, "refusal keyword": refusal_votes}


def wilson(successes: float, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95% Wilson score interval of a proportion (ties counted as half a success)."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class Agreement:
    """How often a baseline agrees with a file's labels, with its 95% Wilson interval."""

    name: str
    rate: float
    low: float
    high: float
    n: int

    @property
    def balanced(self) -> bool:
        return BALANCED[0] <= self.rate <= BALANCED[1]


def agreements(rows: Sequence[Mapping[str, str]]) -> list[Agreement]:
    """Each trivial baseline's agreement with the labels of ``rows`` (prompt/chosen/rejected)."""
    out = []
    for name, votes in BASELINES.items():
        v = votes(rows)
        rate = sum(v) / len(v) if v else float("nan")
        out.append(Agreement(name, rate, *wilson(sum(v), len(v)), n=len(v)))
    return out


def shortcut_warnings(rows: Sequence[Mapping[str, str]], what: str) -> list[str]:
    """One line per baseline that predicts the labels of ``rows`` outside [0.40, 0.60]; empty when none.

    Not an error: a file may mean to reward refusals; the user is told what a judge or adapter can
    learn from it instead of the value.
    """
    return [
        f"{what}: 'prefer the {a.name}' agrees with the labels on {a.rate:.0%} of {a.n} pairs "
        f"(outside {BALANCED[0]:.0%}-{BALANCED[1]:.0%}): a judge or adapter can learn the {a.name} "
        "instead of the value"
        for a in agreements(rows)
        if a.n and not a.balanced
    ]

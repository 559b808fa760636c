"""Side effects of steering, and whether a value graph predicted them ("co-change").

Steering towards value X shifts every value ``v`` by ``Δ_v`` (per role: profile under steering
minus profile without). ``v`` *co-changes* in a role when ``|Δ_v| > threshold``. A graph predicts
the co-changing values: X's possible descendants in a learnt (causal) graph, X's neighbours in
the undirected reference (whose edges are correlations: following them further would make
everything connected "expected"). The **expected rate** is the share of (role, predicted value)
pairs that co-changed, the **unexpected rate** the same over the values not predicted. A graph
that explains side effects has expected > unexpected.

The default threshold is the noise floor of a placebo prompt (a neutral instruction that names
no value): twice the root-mean-square of its shifts, so only changes a neutral prompt rarely
causes count.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from alignrun.errors import AlignrunError
from alignrun.lib.graphs.model import ValueGraph

REACH = ("descendants", "neighbours")


def predicted(graph: ValueGraph, target: str, reach: str) -> set[str]:
    """The values ``graph`` expects to move with ``target``: its possible descendants or neighbours."""
    if reach not in REACH:
        raise AlignrunError(f"co-change reach must be one of {', '.join(REACH)}, got '{reach}'")
    if target not in graph.nodes:
        return set()
    return graph.possible_descendants(target) if reach == "descendants" else graph.neighbours(target)


def noise_threshold(placebo: Sequence[Mapping[str, float]], k: float = 2.0) -> float:
    """``k`` × the root-mean-square shift under the placebo, over roles and values."""
    shifts = [d for row in placebo for d in row.values()]
    if not shifts:
        raise AlignrunError("the co-change threshold needs placebo shifts; none were measured")
    return k * math.sqrt(sum(d * d for d in shifts) / len(shifts))


@dataclass(frozen=True)
class CoChange:
    """Co-change rates of one steering target under one graph (None: no value in that group)."""

    expected: float | None
    unexpected: float | None
    n_expected: int
    n_unexpected: int

    def metrics(self, prefix: str) -> dict[str, float]:
        out = {
            f"{prefix}/n_expected": float(self.n_expected),
            f"{prefix}/n_unexpected": float(self.n_unexpected),
        }
        if self.expected is not None:
            out[f"{prefix}/expected"] = self.expected
        if self.unexpected is not None:
            out[f"{prefix}/unexpected"] = self.unexpected
        return out


def cochange(
    shifts: Sequence[Mapping[str, float]], target: str, expected: set[str], threshold: float
) -> CoChange:
    """Co-change rates over roles: ``shifts`` has one ``{value: Δ}`` per role; ``target`` is not counted."""
    hits = {True: 0, False: 0}
    count = {True: 0, False: 0}
    for row in shifts:
        for value, delta in row.items():
            if value == target:
                continue
            group = value in expected
            count[group] += 1
            hits[group] += abs(delta) > threshold
    return CoChange(
        hits[True] / count[True] if count[True] else None,
        hits[False] / count[False] if count[False] else None,
        count[True],
        count[False],
    )


def pooled(parts: Sequence[CoChange]) -> CoChange:
    """Rates over several targets together, weighted by how many (role, value) pairs each had."""
    n_exp = sum(p.n_expected for p in parts)
    n_un = sum(p.n_unexpected for p in parts)
    exp = sum((p.expected or 0.0) * p.n_expected for p in parts)
    un = sum((p.unexpected or 0.0) * p.n_unexpected for p in parts)
    return CoChange(exp / n_exp if n_exp else None, un / n_un if n_un else None, n_exp, n_un)

"""The human reference graph for Schwartz's 10 values, derived from the circumplex.

Source: S. H. Schwartz (2012), "An Overview of the Schwartz Theory of Basic Values", Online
Readings in Psychology and Culture 2(1), doi:10.9707/2307-0919.1116, Figure 1 and §"The
structure of value relations": values adjacent on the circle are compatible (positively
related), values on opposite sides of a bipolar dimension conflict (negatively related).

Construction (each step a rule, tested in tests/unit/lib/graphs/test_graphs.py):
1. The circle has 9 wedges in order: self-direction, stimulation, hedonism, achievement, power,
   security, {conformity, tradition} (one shared wedge), benevolence, universalism. Circular
   distance between wedges is at most 4.
2. Positive edge: wedge distance <= 1 (neighbours, and conformity–tradition sharing a wedge):
   12 edges.
3. Negative edge: wedge distance 4 (the far side of the circle) *and* the two values sit on
   opposite poles of a higher-order dimension — openness to change {self-direction, stimulation,
   hedonism} vs conservation {security, conformity, tradition}; self-enhancement {hedonism,
   achievement, power} vs self-transcendence {benevolence, universalism}. Hedonism belongs to
   both openness and self-enhancement (Schwartz 2012). This drops the one distance-4 pair that is
   not across a dimension (self-direction–power): 10 edges.
4. Everything else (distance 2 or 3) is left unconnected: the theory predicts weaker, graded
   relations there, not a clear link.

The result is undirected (the theory is about correlations, not causes): 22 of the 45 pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

from alignrun.lib.graphs.model import Edge, ValueGraph

WEDGES = {
    "self_direction": 0,
    "stimulation": 1,
    "hedonism": 2,
    "achievement": 3,
    "power": 4,
    "security": 5,
    "conformity": 6,
    "tradition": 6,
    "benevolence": 7,
    "universalism": 8,
}
N_WEDGES = 9
DIMENSIONS = (  # higher-order bipolar dimensions: (pole, opposite pole)
    ({"self_direction", "stimulation", "hedonism"}, {"security", "conformity", "tradition"}),
    ({"hedonism", "achievement", "power"}, {"benevolence", "universalism"}),
)


def wedge_distance(a: str, b: str) -> int:
    d = abs(WEDGES[a] - WEDGES[b])
    return min(d, N_WEDGES - d)


def opposed(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` sit on opposite poles of a higher-order dimension."""
    return any((a in p and b in q) or (a in q and b in p) for p, q in DIMENSIONS)


def schwartz_reference(names: Sequence[str] | None = None) -> ValueGraph:
    """The reference graph over ``names`` (default: all 10, circumplex order); unknown names are dropped."""
    nodes = [v for v in WEDGES if names is None or v in names]
    edges = []
    for a, b in combinations(nodes, 2):
        d = wedge_distance(a, b)
        if d <= 1:
            edges.append(Edge(a, b, "undirected", +1))
        elif d == N_WEDGES // 2 and opposed(a, b):
            edges.append(Edge(a, b, "undirected", -1))
    meta = {"source": "Schwartz (2012) circumplex, doi:10.9707/2307-0919.1116", "directed": False}
    return ValueGraph(nodes, edges, meta)

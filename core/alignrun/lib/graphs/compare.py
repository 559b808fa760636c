"""Compare a learnt value graph with a reference graph, edge by edge.

The reference is undirected, so the comparison is on skeletons: precision = shared edges /
learnt edges, recall = shared edges / reference edges, structural Hamming distance (SHD) =
edges in one skeleton but not the other (missing + extra; orientation is not counted, unlike
causal-learn's ``SHD``, since the reference has none). ``sign_agreement``: of the shared edges,
the share whose signs (positive or negative relation) agree. ``chance_precision``: the
precision a random graph would get, the reference's share of all pairs.
"""

from __future__ import annotations

from math import comb

from alignrun.lib.graphs.model import ValueGraph


def compare(learnt: ValueGraph, reference: ValueGraph) -> dict[str, float]:
    """Skeleton metrics over the values both graphs have; an undefined ratio is left out."""
    shared = [n for n in learnt.nodes if n in set(reference.nodes)]
    ours, theirs = learnt.subgraph(shared), reference.subgraph(shared)
    found, truth = ours.skeleton(), theirs.skeleton()
    hits = found & truth
    out: dict[str, float] = {
        "edges": float(len(found)),
        "reference_edges": float(len(truth)),
        "shared_edges": float(len(hits)),
        "shd": float(len(found ^ truth)),
    }
    if len(shared) >= 2:
        out["chance_precision"] = len(truth) / comb(len(shared), 2)
    if found:
        out["precision"] = len(hits) / len(found)
    if truth:
        out["recall"] = len(hits) / len(truth)
    if hits:
        p, r = out["precision"], out["recall"]
        out["f1"] = 2 * p * r / (p + r)
        sign = {e.pair: e.sign for e in theirs.edges}
        out["sign_agreement"] = sum(e.sign == sign[e.pair] for e in ours.edges if e.pair in hits) / len(hits)
    return out

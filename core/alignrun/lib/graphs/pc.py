"""The PC algorithm (Spirtes, Glymour & Scheines 2000) over per-sample value scores, via causal-learn.

Fisher-z conditional-independence tests (partial correlation, ``z = atanh(r)·sqrt(n - |S| - 3)``),
stable PC, the default collider rule. Guards causal-learn leaves to its caller: NaN or Inf
scores (an assertion there), values that never vary (their correlations are NaN, which PC would
silently read as dependence: they become isolated nodes here), and conditioning sets so large
that ``n - |S| - 3 < 1`` (a math domain error there).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from alignrun.errors import AlignrunError
from alignrun.lib.graphs.model import Edge, ValueGraph

log = logging.getLogger("alignrun")
MIN_SAMPLES = (
    5  # Fisher-z needs n - |S| - 3 >= 1 even for the marginal tests (|S| = 0): n >= 4, and one spare
)
CONSTANT = 1e-12  # a column whose variance is below this is treated as constant


def pc_graph(
    samples: np.ndarray | Sequence[Sequence[float]],
    names: Sequence[str],
    alpha: float = 0.05,
    max_depth: int | None = None,
) -> ValueGraph:
    """Learn a value graph (a CPDAG) from ``samples``.

    Args:
        samples: ``[n_samples, n_values]`` scores, one row per sample (a role under a steering
            setting), one column per value in ``names`` order.
        names: the value names, the graph's nodes.
        alpha: the tests' significance level; larger keeps more edges.
        max_depth: the largest conditioning set tried (None: as large as the data allows).

    Returns:
        The graph; edge signs are the signs of the two values' correlation across samples;
        ``meta`` records alpha, the test, sample count, depth used and constant values.

    Raises:
        AlignrunError: wrong shape, non-finite scores, too few samples, or scores so collinear
            that a correlation matrix cannot be inverted.
    """
    data = np.asarray(samples, dtype=float)
    if data.ndim != 2 or data.shape[1] != len(names):
        raise AlignrunError(f"PC needs one column per value ({len(names)}); got scores of shape {data.shape}")
    if not np.isfinite(data).all():
        raise AlignrunError("PC got non-finite value scores (NaN or Inf); check the profile's inputs")
    n = data.shape[0]
    if n < MIN_SAMPLES:
        raise AlignrunError(f"PC needs at least {MIN_SAMPLES} samples (roles × settings), got {n}")
    if not 0 < alpha < 1:
        raise AlignrunError(f"PC alpha must be in (0, 1), got {alpha}")
    varying = [j for j in range(len(names)) if data[:, j].var() > CONSTANT]
    constant = [names[j] for j in range(len(names)) if j not in varying]
    if constant:
        log.warning("values that never varied across samples are left unconnected: %s", ", ".join(constant))
    depth = n - 4 if max_depth is None else min(max_depth, n - 4)  # keeps n - |S| - 3 >= 1
    edges: list[Edge] = []
    if len(varying) >= 2:
        edges = _pc_edges(data[:, varying], [names[j] for j in varying], alpha, depth)
    meta: dict[str, Any] = {
        "algorithm": "pc",
        "test": "fisherz",
        "alpha": alpha,
        "n_samples": n,
        "max_depth": depth,
        "constant": constant,
    }
    return ValueGraph(list(names), edges, meta)


def _pc_edges(data: np.ndarray, names: list[str], alpha: float, depth: int) -> list[Edge]:
    from causallearn.search.ConstraintBased.PC import pc
    from causallearn.utils.cit import fisherz

    try:
        cg = pc(
            data, alpha, fisherz, stable=True, uc_rule=0, show_progress=False, node_names=names, max_k=depth
        )
    except ValueError as exc:  # causal-learn: "Data correlation matrix is singular"
        raise AlignrunError(
            f"PC failed: {exc} (some values' scores are linear combinations of others; use more "
            "samples or fewer values)"
        ) from None
    g = cg.G.graph  # causal-learn: g[i, j] = -1 and g[j, i] = 1 means i -> j
    corr = np.corrcoef(data.T)
    edges = []
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            a, b = g[i, j], g[j, i]
            if a == 0 and b == 0:
                continue
            sign = int(np.sign(corr[i, j]))
            if a == -1 and b == 1:
                edges.append(Edge(names[i], names[j], "directed", sign))
            elif a == 1 and b == -1:
                edges.append(Edge(names[j], names[i], "directed", sign))
            elif a == 1 and b == 1:
                edges.append(Edge(names[i], names[j], "bidirected", sign))
            else:
                edges.append(Edge(names[i], names[j], "undirected", sign))
    return edges

"""MVA's value extrapolation: which weight vectors ``w ∈ [0, C]^n`` to try, and saving the chosen ones.

A candidate model is ``base + Σ_i w_i θ_i``. Each ``w_i`` is chosen independently (not on the
simplex, unlike a soup): ``C = 1`` spans every subset of value vectors at full strength,
``C > 1`` amplifies them. Candidates are applied with :func:`alignrun.lib.training.adapters.mixed`
(rescaling LoRA scalings in place), so producing one costs microseconds — see
bench/mva_extrapolation.py.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from alignrun_mva.method import ExtrapolationSettings

SAMPLERS = ("grid", "halton")


def grid(n: int, points: int, max_weight: float) -> list[tuple[float, ...]]:
    """All ``points^n`` combinations of ``points`` (>= 2) evenly spaced weights in ``[0, max_weight]``."""
    axis = [max_weight * k / (points - 1) for k in range(points)]
    return list(itertools.product(axis, repeat=n))


def halton(n: int, count: int, max_weight: float) -> list[tuple[float, ...]]:
    """``count`` quasi-random points of ``[0, max_weight]^n`` (Halton, the first ``n`` primes as bases,
    unscrambled), after the ``2^n`` corners — so the base model and every single value vector are
    always candidates.

    SciPy's sequence, started at its point 1: bit-identical to the radical inverses alignrun computed
    itself before (checked for 1-12 values, 0-39, 100 and 257 points, six ``max_weight``s), and not
    limited to 12 values.
    """
    from scipy.stats import qmc  # not at import: MVA's settings import this module in every preflight

    corners = list(itertools.product((0.0, max_weight), repeat=n))
    sequence = qmc.Halton(d=n, scramble=False)
    sequence.fast_forward(1)  # point 0 is the origin, already a corner
    return corners + [tuple(max_weight * float(x) for x in row) for row in sequence.random(count)]


def sample_weights(names: list[str], settings: ExtrapolationSettings) -> list[dict[str, float]]:
    """The candidates' weight vectors as ``{value: w}`` dicts (``settings``: the checked node)."""
    s = settings
    if s.sampler == "grid":
        rows = grid(len(names), s.points, s.max_weight)
    else:  # halton: ExtrapolationSettings admits SAMPLERS only
        rows = halton(len(names), s.num_candidates, s.max_weight)
    return [dict(zip(names, (round(w, 6) for w in row), strict=True)) for row in rows]


def save_candidate(model: Any, weights: dict[str, float], path: Path) -> Path:
    """Write ``base + Σ w_i θ_i`` as ONE standard PEFT LoRA folder, plus ``weights.json``.

    PEFT's ``add_weighted_adapter(combination_type="cat")`` stacks the adapters' factors into a
    rank-``Σ r_i`` adapter with ``A = [w_i s_i A_i]`` and ``B = [B_i]`` (scaling 1), which is exactly
    the mixture; ``PeftModel.from_pretrained(base, path)`` then loads the candidate as a model.
    """
    from alignrun.atomic import atomic_write_text
    from alignrun.lib.training.adapters import save_adapter

    tmp_name = "mva_candidate"
    used = {v: w for v, w in weights.items() if w != 0} or weights  # zero blocks only cost disk
    model.base_model.add_weighted_adapter(list(used), list(used.values()), tmp_name, combination_type="cat")
    try:
        save_adapter(model, tmp_name, path)
    finally:
        model.delete_adapter(tmp_name)
    atomic_write_text(path / "weights.json", json.dumps(weights, indent=2) + "\n")
    return path

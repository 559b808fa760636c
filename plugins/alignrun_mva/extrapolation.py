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
from typing import Any

from alignrun.errors import AlignrunError

SAMPLERS = ("grid", "halton")
_PRIMES = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37)


def grid(n: int, points: int, max_weight: float) -> list[tuple[float, ...]]:
    """All ``points^n`` combinations of ``points`` evenly spaced weights in ``[0, max_weight]``."""
    if points < 2:
        raise AlignrunError(f"method.extrapolation.points must be >= 2, got {points}")
    axis = [max_weight * k / (points - 1) for k in range(points)]
    return list(itertools.product(axis, repeat=n))


def radical_inverse(index: int, base: int) -> float:
    """Van der Corput: the digits of ``index`` in ``base`` mirrored behind the radix point."""
    out, f = 0.0, 1.0 / base
    while index > 0:
        index, digit = divmod(index, base)
        out += digit * f
        f /= base
    return out


def halton(n: int, count: int, max_weight: float) -> list[tuple[float, ...]]:
    """``count`` quasi-random points of ``[0, max_weight]^n`` (Halton, prime bases), after the
    ``2^n`` corners — so the base model and every single value vector are always candidates."""
    if n > len(_PRIMES):
        raise AlignrunError(f"the halton sampler supports up to {len(_PRIMES)} values")
    if count < 0:
        raise AlignrunError(f"method.extrapolation.num_candidates must be >= 0, got {count}")
    corners = list(itertools.product((0.0, max_weight), repeat=n))
    inner = [
        tuple(max_weight * radical_inverse(k, _PRIMES[d]) for d in range(n)) for k in range(1, count + 1)
    ]
    return corners + inner


def sample_weights(
    names: list[str], sampler: str, max_weight: float, points: int, num_candidates: int
) -> list[dict[str, float]]:
    """The candidates' weight vectors as ``{value: w}`` dicts (``method.extrapolation`` node)."""
    if max_weight <= 0:
        raise AlignrunError(f"method.extrapolation.max_weight must be > 0, got {max_weight}")
    if sampler == "grid":
        rows = grid(len(names), points, max_weight)
    elif sampler == "halton":
        rows = halton(len(names), num_candidates, max_weight)
    else:
        raise AlignrunError(
            f"method.extrapolation.sampler must be one of {', '.join(SAMPLERS)}, got '{sampler}'"
        )
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

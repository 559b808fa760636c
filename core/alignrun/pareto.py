"""Pareto fronts and hypervolume over candidate models' per-value scores (all maximised)."""

from __future__ import annotations

from collections.abc import Sequence

Point = Sequence[float]


def dominates(a: Point, b: Point) -> bool:
    """``a`` is at least as good as ``b`` everywhere and better somewhere."""
    return all(x >= y for x, y in zip(a, b, strict=True)) and any(x > y for x, y in zip(a, b, strict=True))


def pareto_mask(points: Sequence[Point]) -> list[bool]:
    """True for each point no other point dominates (duplicates of a front point all stay)."""
    return [not any(dominates(q, p) for q in points) for p in points]


def hypervolume(points: Sequence[Point], reference: Point) -> float:
    """Volume dominated by ``points`` and bounded below by ``reference`` (exact).

    Recursive slicing along the last objective (HSO; fine for the few values and few hundred
    candidates alignrun deals in). Points not strictly better than ``reference`` in every
    objective contribute nothing.
    """
    pts = [tuple(p) for p in points if all(x > r for x, r in zip(p, reference, strict=True))]
    if not pts:
        return 0.0
    return _hso(pts, tuple(reference))


def _hso(points: list[tuple[float, ...]], ref: tuple[float, ...]) -> float:
    if len(ref) == 1:
        return max(p[0] for p in points) - ref[0]
    # sweep the last objective from the top: each slab's area is the (d-1)-volume of the
    # points reaching at least that high
    levels = sorted({p[-1] for p in points}, reverse=True)
    volume = 0.0
    for i, level in enumerate(levels):
        below = levels[i + 1] if i + 1 < len(levels) else ref[-1]
        active = [p[:-1] for p in points if p[-1] >= level]
        volume += _hso(active, ref[:-1]) * (level - below)
    return volume

"""Pareto front and hypervolume against closed-form cases."""

from __future__ import annotations

import itertools
import random

import pytest

from alignrun.contracts import Candidate
from alignrun.pareto import dominates, hypervolume, pareto_mask
from alignrun.results import finish_candidates


def test_dominates() -> None:
    assert dominates([1, 1], [0, 1])
    assert not dominates([1, 1], [1, 1])
    assert not dominates([1, 0], [0, 1])


def test_pareto_mask() -> None:
    points = [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.5, 0.5], [0.4, 0.4], [1.0, 0.0]]
    assert pareto_mask(points) == [False, True, True, True, False, True]


def test_hypervolume_closed_forms() -> None:
    assert hypervolume([[1, 1]], [0, 0]) == pytest.approx(1.0)
    # two rectangles 2x1 and 1x2 overlapping in a 1x1 square: 2 + 2 - 1
    assert hypervolume([[2, 1], [1, 2]], [0, 0]) == pytest.approx(3.0)
    assert hypervolume([[1, 1, 1]], [0, 0, 0]) == pytest.approx(1.0)
    # three unit-wide boxes along the axes in 3-D: 2*1*1 each, pairwise overlaps 1, triple 1
    assert hypervolume([[2, 1, 1], [1, 2, 1], [1, 1, 2]], [0, 0, 0]) == pytest.approx(4.0)
    assert hypervolume([[-2, 5]], [-1, -1]) == 0.0  # not better than the reference everywhere
    assert hypervolume([], [0, 0]) == 0.0


def test_hypervolume_matches_monte_carlo_free_grid_count() -> None:
    # integer points: the dominated volume equals the number of unit cells dominated
    rng = random.Random(0)
    points = [[rng.randint(1, 6) for _ in range(3)] for _ in range(8)]
    cells = sum(
        any(all(c < p_i for c, p_i in zip(cell, p, strict=True)) for p in points)
        for cell in itertools.product(range(6), repeat=3)
    )
    assert hypervolume(points, [0, 0, 0]) == pytest.approx(cells)


def test_dominated_points_do_not_change_hypervolume() -> None:
    front = [[3, 1], [2, 2], [1, 3]]
    assert hypervolume([*front, [1, 1], [2, 1.5]], [0, 0]) == pytest.approx(hypervolume(front, [0, 0]))


def test_finish_candidates_sets_flags() -> None:
    cands = [Candidate(weights={"a": w, "b": 1 - w}, scores={"a": w, "b": 1 - w}) for w in (0.0, 0.5, 1.0)]
    cands.append(Candidate(weights={"a": 0.2, "b": 0.2}, scores={"a": 0.1, "b": 0.1}))
    hv = finish_candidates(cands, ["a", "b"], reference=-1.0)
    assert [c.pareto for c in cands] == [True, True, True, False]
    assert hv == pytest.approx(hypervolume([[0, 1], [0.5, 0.5], [1, 0]], [-1, -1]))
    assert finish_candidates([], ["a"], 0.0) is None


def test_candidate_without_a_score_is_a_clear_error() -> None:
    from alignrun import AlignrunError

    with pytest.raises(AlignrunError, match="no score for b"):
        finish_candidates([Candidate(weights={"a": 1.0}, scores={"a": 0.5})], ["a", "b"], 0.0)

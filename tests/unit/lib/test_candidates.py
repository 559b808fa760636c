"""alignrun.lib.candidates: the shared candidate grid and the additivity residual, in closed form."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from omegaconf import OmegaConf

from alignrun.config import check_settings, compose
from alignrun.contracts import Candidate
from alignrun.errors import AlignrunError
from alignrun.lib.candidates import additivity_metrics, additivity_residual, shared_grid


def _run(grid: list[float] | None) -> Any:  # a stand-in Run: shared_grid reads its config only
    return SimpleNamespace(cfg=OmegaConf.create({"candidates": {"eval_prompts": 24, "grid": grid}}))


def test_shared_grid_is_every_combination_in_a_fixed_order() -> None:
    assert shared_grid(_run(None), ["a", "b"]) is None  # unset: each method samples its own
    grid = shared_grid(_run([1, 0, 0.5, 1]), ["a", "b"])  # unordered, a repeat: the same set
    assert grid == [{"a": x, "b": y} for x in (0.0, 0.5, 1.0) for y in (0.0, 0.5, 1.0)]
    assert len(shared_grid(_run([0, 1]), ["a", "b", "c"]) or []) == 8


@pytest.mark.parametrize("grid", ["[]", "[0,-0.5,1]"])
def test_a_bad_grid_is_refused_at_preflight(grid: str) -> None:
    with pytest.raises(AlignrunError, match=r"candidates.grid wants per-value weights >= 0"):
        check_settings(compose(["+method=none", f"candidates.grid={grid}"]))


def _candidate(weights: dict[str, float], per_prompt: dict[str, list[float]]) -> Candidate:
    return Candidate(
        weights=weights, scores={v: float(np.mean(s)) for v, s in per_prompt.items()}, per_prompt=per_prompt
    )


def test_additivity_residual_two_values_closed_form() -> None:
    rng = np.random.default_rng(0)
    s = {w: rng.normal(size=12) for w in ((0, 0), (1, 0), (0, 1), (1, 1), (0.5, 0.5))}
    candidates = [_candidate({"a": w[0], "b": w[1]}, {"a": list(x), "b": list(-x)}) for w, x in s.items()]
    residual = additivity_residual(candidates, ["a", "b"], "a")
    assert residual is not None
    # (s11 - s00) - (s10 - s00) - (s01 - s00), per prompt, averaged
    want = s[(1, 1)] - s[(1, 0)] - s[(0, 1)] + s[(0, 0)]
    assert residual.estimate == pytest.approx(float(want.mean()), rel=1e-12)
    assert residual.lo <= residual.estimate <= residual.hi
    # effects that add exactly: residual 0, no interval to speak of
    additive = [
        _candidate({"a": x, "b": y}, {"a": [1.0 + 2 * x + 3 * y, 2 + x - y]}) for x in (0, 1) for y in (0, 1)
    ]
    exact = additivity_residual(additive, ["a", "b"], "a")
    assert exact is not None and (exact.estimate, exact.lo, exact.hi) == pytest.approx(
        (0.0, 0.0, 0.0), abs=1e-12
    )
    assert exact.verdict == "not distinguishable"


def test_additivity_residual_three_values_and_missing_corners() -> None:
    rng = np.random.default_rng(1)
    names = ["a", "b", "c"]
    corners = [(0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 1)]
    s = {w: rng.normal(size=8) for w in corners}
    candidates = [
        _candidate(dict(zip(names, map(float, w), strict=True)), {"a": list(x)}) for w, x in s.items()
    ]
    residual = additivity_residual(candidates, names, "a")
    want = s[(1, 1, 1)] - s[(1, 0, 0)] - s[(0, 1, 0)] - s[(0, 0, 1)] + 2 * s[(0, 0, 0)]
    assert residual is not None and residual.estimate == pytest.approx(float(want.mean()), rel=1e-12)
    assert additivity_residual(candidates[:-1], names, "a") is None  # no all-ones candidate
    assert additivity_residual(candidates, names, "b") is None  # not scored on b
    metrics = additivity_metrics(candidates, names, "mva")
    assert set(metrics) == {"mva/additivity/a", "mva/additivity/a_lo", "mva/additivity/a_hi"}

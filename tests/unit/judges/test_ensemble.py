"""The ensemble judge's scale and combiners, in closed form on fake members with known scores."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from alignrun.errors import AlignrunError
from alignrun.judges.ensemble import Ensemble, noise_variances

NAN = math.nan
ITEMS = ["r0", "r1", "r2", "r3"]
PROMPTS = ["p"] * len(ITEMS)
R3 = math.sqrt(3)

# z-scores by hand (population std): a = [1, 1, 3, 3] -> mean 2, std 1 -> [-1, -1, 1, 1]
A = [1.0, 1.0, 3.0, 3.0]
# b = [0, 20, 0, 20] -> mean 10, std 10 -> [-1, 1, -1, 1]
B = [0.0, 20.0, 0.0, 20.0]
# c = [0, 0, 0, 4] -> mean 1, std sqrt(3) -> [-1, -1, -1, 3] / sqrt(3)
C = [0.0, 0.0, 0.0, 4.0]
ZA: list[float] = [-1, -1, 1, 1]
ZB: list[float] = [-1, 1, -1, 1]
ZC: list[float] = [-1 / R3, -1 / R3, -1 / R3, 3 / R3]


class Fake:
    """A judge with fixed scores per response; counts how often it is asked."""

    def __init__(self, scores: Sequence[float], name: str = "fake") -> None:
        names = ITEMS + [f"ref{i}" for i in range(len(scores))]
        self.by_response = dict(zip(names, [*scores, *scores], strict=True))
        self.name, self.calls = name, 0

    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> list[float]:
        self.calls += 1
        return [self.by_response[r] for r in responses]

    def describe(self) -> dict[str, Any]:
        return {"kind": self.name}


class Refittable(Fake):
    def with_pairs(self, rows: Any) -> Fake:
        return Fake([10 * s for s in self.by_response.values()][: len(ITEMS)], name=f"{self.name}-refit")


def test_each_member_is_standardised_by_its_own_batch_scale() -> None:
    z = Ensemble({"a": Fake(A), "b": Fake(B), "c": Fake(C)}).standardised(PROMPTS, ITEMS)
    np.testing.assert_allclose(z, [ZA, ZB, ZC])


def test_mean_and_min() -> None:
    members = {"a": Fake(A), "b": Fake(B), "c": Fake(C)}
    mean = Ensemble(members, combine="mean").score(PROMPTS, ITEMS)
    expected = [(-2 - 1 / R3) / 3, -1 / R3 / 3, -1 / R3 / 3, (2 + 3 / R3) / 3]
    assert mean == pytest.approx(expected)
    assert Ensemble(members, combine="min").score(PROMPTS, ITEMS) == pytest.approx([-1, -1, -1, 1])


def test_inverse_variance_weights() -> None:
    # members a, b and a copy of a: the consensus is (2 z_a + z_b) / 3, so the disagreements are
    # d_a = (z_a - z_b) / 3 and d_b = 2 (z_b - z_a) / 3; z_a - z_b = [0, -2, 2, 0] has variance 2,
    # so var_a = var_copy = 2/9, var_b = 8/9: weights 9/2, 9/8, 9/2, i.e. 4/9, 1/9, 4/9
    ensemble = Ensemble({"a": Fake(A), "b": Fake(B), "a2": Fake(A)}, combine="inverse_variance")
    np.testing.assert_allclose(noise_variances(ensemble.standardised(PROMPTS, ITEMS)), [2 / 9, 8 / 9, 2 / 9])
    weights = ensemble.weights(PROMPTS, ITEMS)
    assert weights == pytest.approx({"a": 4 / 9, "b": 1 / 9, "a2": 4 / 9})
    # (8 z_a + z_b) / 9
    assert ensemble.score(PROMPTS, ITEMS) == pytest.approx([-1, -7 / 9, 7 / 9, 1])


def test_two_members_inverse_variance_is_the_mean() -> None:
    members = {"a": Fake(A), "b": Fake(B)}
    assert Ensemble(members, combine="inverse_variance").score(PROMPTS, ITEMS) == pytest.approx(
        Ensemble(members, combine="mean").score(PROMPTS, ITEMS)
    )


def test_nan_scores_are_skipped() -> None:
    # a = [1, NaN, 3, NaN] -> mean 2, std 1 over its scored items -> [-1, NaN, 1, NaN]
    # b = [0, 20, 0, 20] -> [-1, 1, -1, 1]; d = [NaN, NaN, 5, NaN] -> [NaN, NaN, 0, NaN] (std 0)
    members = {"a": Fake([1, NAN, 3, NAN]), "b": Fake(B), "d": Fake([NAN, NAN, 5, NAN])}
    mean = Ensemble(members, combine="mean").score(PROMPTS, ITEMS)
    assert mean == pytest.approx([-1, 1, 0, 1])
    low = Ensemble(members, combine="min").score(PROMPTS, ITEMS)
    assert low == pytest.approx([-1, 1, -1, 1])
    nobody = Ensemble({"a": Fake([1, NAN, 3, 2])}).score(PROMPTS, ITEMS)
    assert math.isnan(nobody[1]) and not any(math.isnan(v) for v in nobody[:1] + nobody[2:])
    weighted = Ensemble(members, combine="inverse_variance").score(PROMPTS, ITEMS)
    assert not any(math.isnan(v) for v in weighted)


def test_a_constant_member_contributes_zero() -> None:
    z = Ensemble({"a": Fake(A), "flat": Fake([0.5] * 4)}).standardised(PROMPTS, ITEMS)
    np.testing.assert_allclose(z[1], [0, 0, 0, 0])


def test_disagreement_numbers() -> None:
    report = Ensemble({"a": Fake(A), "b": Fake(B)}).disagreement(PROMPTS, ITEMS)
    # |z_a - z_b| = [0, 2, 2, 0]; the ensemble [-1, 0, 0, 1] correlates sqrt(1/2) with each member
    assert report["pairwise"] == pytest.approx({"a|b": 1.0})
    assert report["mean_abs_diff"] == pytest.approx(1.0) and report["n"] == 4
    assert report["correlation"] == pytest.approx({"a": math.sqrt(0.5), "b": math.sqrt(0.5)})


def test_a_reference_fixes_the_scale() -> None:
    a = Fake(A)
    reference = (["p"] * 4, ["ref0", "ref1", "ref2", "ref3"])  # the same scores: mean 2, std 1
    fixed = Ensemble({"a": a}, reference=reference)
    assert fixed.score(["p"], ["r3"]) == pytest.approx([1.0])  # 3 on the reference's scale
    assert fixed.score(["p"], ["r0"]) == pytest.approx([-1.0])
    assert a.calls == 3  # the reference was scored once
    assert Ensemble({"a": Fake(A)}).score(["p"], ["r3"]) == [0.0]  # a batch of one has no scale


def test_describe_and_with_pairs() -> None:
    plain, refit = Fake(A, "plain"), Refittable(B, "refittable")
    ensemble = Ensemble([plain, refit], combine="min", value="honesty")
    described = ensemble.describe()
    assert (
        described["kind"] == "ensemble" and described["combine"] == "min" and described["value"] == "honesty"
    )
    assert described["members"] == {"0:Fake": {"kind": "plain"}, "1:Refittable": {"kind": "refittable"}}
    refitted = ensemble.with_pairs([{"prompt": "p", "chosen": "c", "rejected": "r"}])
    assert refitted.members["0:Fake"] is plain
    assert refitted.members["1:Refittable"].describe() == {"kind": "refittable-refit"}
    assert refitted.combine == "min" and refitted.value == "honesty"


def test_bad_settings_are_one_line_errors() -> None:
    with pytest.raises(AlignrunError, match="combine must be one of"):
        Ensemble({"a": Fake(A)}, combine="median")
    with pytest.raises(AlignrunError, match="at least one member"):
        Ensemble({})

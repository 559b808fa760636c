"""Intervals and paired comparisons (alignrun.uncertainty) on synthetic scores with known truth."""

from __future__ import annotations

import numpy as np
import pytest

from alignrun.errors import AlignrunError
from alignrun.uncertainty import length_controlled, mean_interval, noise_aware_front, paired_difference


@pytest.mark.parametrize("method", ["BCa", "percentile"])
def test_mean_interval_covers_the_true_mean_about_95_percent(method: str) -> None:
    rng = np.random.default_rng(0)
    trials, hits = 400, 0
    for seed in range(trials):
        scores = rng.normal(0.2, 0.4, size=30)  # the spread of real per-prompt scores
        iv = mean_interval(scores, seed=seed, resamples=999, method=method)  # type: ignore[arg-type]
        assert iv.lo <= iv.estimate <= iv.hi
        hits += iv.lo <= 0.2 <= iv.hi
    # 400 trials: a true 95% lands in [0.925, 0.975] with ~95% probability; bootstrap runs a bit narrow
    assert 0.91 <= hits / trials <= 0.98


def test_mean_interval_is_seeded_and_shrinks_with_more_prompts() -> None:
    rng = np.random.default_rng(1)
    scores = rng.normal(0, 1, size=200)
    assert mean_interval(scores[:20], seed=3) == mean_interval(scores[:20], seed=3)
    narrow, wide = mean_interval(scores, seed=0), mean_interval(scores[:20], seed=0)
    assert narrow.hi - narrow.lo < wide.hi - wide.lo
    assert mean_interval([0.5, 0.5, 0.5]).to_list() == [0.5, 0.5]


def test_paired_difference_detects_a_known_shift_and_not_a_null_one() -> None:
    rng = np.random.default_rng(2)
    false_positives, misses, trials = 0, 0, 200
    for seed in range(trials):
        prompt = rng.normal(0, 1, size=16)  # prompt difficulty, shared by both models
        base = prompt + rng.normal(0, 0.1, size=16)
        shifted = prompt + 0.3 + rng.normal(0, 0.1, size=16)
        same = prompt + rng.normal(0, 0.1, size=16)
        misses += paired_difference(shifted, base, seed=seed, resamples=999).verdict != "better"
        false_positives += paired_difference(same, base, seed=seed, resamples=999).verdict != (
            "not distinguishable"
        )
    assert misses == 0
    assert false_positives / trials <= 0.09  # nominal 5%, bootstrap intervals run slightly narrow
    down = paired_difference(base, shifted)
    assert down.verdict == "worse" and down.hi < 0
    # unpaired, the shared prompt spread (sd 1) hides the same 0.3 shift
    a, b = mean_interval(shifted), mean_interval(base)
    assert a.lo < b.hi


def test_paired_difference_refuses_unpaired_or_bad_input() -> None:
    with pytest.raises(AlignrunError, match="same prompts"):
        paired_difference([1, 2, 3], [1, 2])
    with pytest.raises(AlignrunError, match="finite"):
        mean_interval([1.0, float("nan")])
    with pytest.raises(AlignrunError, match="non-empty"):
        mean_interval([])


def test_noise_aware_front_on_a_constructed_example() -> None:
    rng = np.random.default_rng(4)
    best = rng.normal(0, 1, size=(2, 40))  # two values, 40 prompts each
    wobble = np.tile([0.3, -0.3], 20)  # mean exactly 0: moves prompts, not the mean
    candidates = [
        best,  # front: dominates the rest
        best - 0.5 + rng.normal(0, 0.05, size=(2, 40)),  # far behind in both: decidedly dominated
        best - 0.01 + wobble,  # behind on both means by 0.01, with per-prompt noise of 0.3
        best + np.array([[1.0], [-1.0]]),  # best on value 0: on the front
    ]
    flags = noise_aware_front(candidates)
    assert flags == ["front", "dominated", "dominated within noise", "front"]


def test_t_interval_closed_form_and_coverage() -> None:
    from alignrun.uncertainty import t_interval

    # [1, 2, 3, 4]: mean 2.5, sd sqrt(5/3), t(0.975, 3) = 3.182446
    mean, lo, hi = t_interval([1.0, 2.0, 3.0, 4.0])
    half = 3.182446305284263 * (5 / 3) ** 0.5 / 2
    assert (
        mean == 2.5
        and lo == pytest.approx(2.5 - half, abs=1e-9)
        and hi == pytest.approx(2.5 + half, abs=1e-9)
    )
    assert t_interval([0.3]) == (0.3, 0.3, 0.3) and t_interval([0.2, 0.2]) == (0.2, 0.2, 0.2)
    # normal samples of 6 (as many as held-out roles): the nominal 95% holds
    rng = np.random.default_rng(0)
    hits = sum(lo <= 0.0 <= hi for _, lo, hi in (t_interval(rng.normal(0, 1, 6)) for _ in range(2000)))
    assert 0.93 <= hits / 2000 <= 0.97


def test_length_control_recovers_the_score_at_equal_length() -> None:
    # a judge that pays 0.01 per extra token: the raw mean mixes it in, the intercept does not
    rng = np.random.default_rng(0)
    extra = rng.integers(-20, 60, 80).astype(float)
    base_len = rng.integers(30, 90, 80).astype(float)
    scores = 0.3 + 0.01 * extra + rng.normal(0, 0.05, 80)
    lc = length_controlled(scores, base_len + extra, base_len, seed=1)
    assert abs(float(np.mean(scores)) - 0.3) > 0.1  # the raw score is inflated by length
    assert lc.lo <= 0.3 <= lc.hi and abs(lc.estimate - 0.3) < 0.03
    assert abs(lc.slope - 0.01) < 0.002
    # no length change at all: the plain mean, and a constant score gives a point interval
    same = length_controlled(scores, base_len, base_len, seed=1)
    assert same.estimate == pytest.approx(float(np.mean(scores))) and same.slope == 0.0
    flat = length_controlled(np.full(5, 0.2), [10, 20, 30, 40, 50], [10] * 5)
    assert flat.estimate == pytest.approx(0.2) and flat.lo == flat.hi == pytest.approx(0.2)


def test_a_length_only_gain_vanishes_under_length_control() -> None:
    rng = np.random.default_rng(2)
    base = rng.normal(0, 0.3, 60)
    extra = rng.integers(5, 80, 60).astype(float)  # every answer got longer
    after = base + 0.01 * extra + rng.normal(0, 0.02, 60)  # and the judge paid for length only
    raw = paired_difference(after, base, seed=0)
    lc = length_controlled(after, 50 + extra, np.full(60, 50.0), base, seed=0)
    assert raw.verdict == "better" and lc.verdict == "not distinguishable" and lc.lo < 0 < lc.hi
    # a real gain on top of the length effect stays decided
    real = length_controlled(after + 0.2, 50 + extra, np.full(60, 50.0), base, seed=0)
    assert real.verdict == "better" and abs(real.estimate - 0.2) < 0.05


def test_length_control_interval_covers_on_synthetic_data() -> None:
    rng = np.random.default_rng(3)
    hits, trials = 0, 200
    for t in range(trials):
        extra = rng.normal(10, 15, 40)
        y = 0.1 + 0.005 * extra + rng.normal(0, 0.2, 40)
        lc = length_controlled(y, 100 + extra, np.full(40, 100.0), seed=t, resamples=500)
        hits += lc.lo <= 0.1 <= lc.hi
    assert 0.88 <= hits / trials <= 0.99  # percentile bootstrap at n=40: near its nominal 95%


def test_length_control_rejects_mismatched_lists() -> None:
    with pytest.raises(AlignrunError, match="one length per score"):
        length_controlled([0.1, 0.2], [10, 20, 30], [10, 20, 30])

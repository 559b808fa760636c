"""Fluency of steered answers (distinct word bigrams × length) and the steering search's guard."""

from __future__ import annotations

import pytest

from alignrun.fluency import distinct_2, setting_fluency
from alignrun.lib.measurement.sampling import Sampling
from alignrun.lib.roles import role_split
from alignrun.lib.search import Study


def _details(setting: str, answers: list[str]) -> dict[str, object]:
    return {"setting": setting, "details": [{"scenario": "s", "answer": a} for a in answers]}


def test_distinct_2_by_hand() -> None:
    assert distinct_2("the cat sat on the mat") == 1.0
    assert distinct_2("her her her her her") == 0.25  # 4 bigrams, 1 distinct
    assert distinct_2("Yes") is None


def test_setting_fluency_penalises_repetition_and_short_answers() -> None:
    fluent = "I would help my friend move and then we would have dinner together"
    got = setting_fluency(
        [
            _details("none", [fluent, fluent]),
            _details("repeats", ["her " * 13]),
            _details("short", ["The problem. The"]),
            {"setting": "self_report", "details": [{"p_yes": 0.4}]},
        ]
    )
    assert got["none"] == 1.0
    assert got["repeats"] == pytest.approx(1 / 12)
    assert got["short"] == pytest.approx(1.0 * 3 / 13)  # all bigrams distinct, 3 of 13 words
    assert "self_report" not in got


def test_the_search_chooses_among_fluent_candidates_only() -> None:
    study = Study(role_split(1, 1), Sampling(), min_fluency=0.8)
    ranking = {"strong": 1.5, "fluent": 0.4, "weak": 0.1}
    assert study.choose(ranking, {"none": 0.8, "strong": 0.1, "fluent": 0.7, "weak": 0.9}) == "fluent"
    assert study.choose(ranking, {}) == "strong"  # self-report profiles: no answers, no guard
    assert study.choose(ranking, {"none": 0.9, "strong": 0.1, "fluent": 0.1, "weak": 0.1}) == "strong"
    assert (
        Study(role_split(1, 1), Sampling(), min_fluency=0).choose(ranking, {"none": 1.0, "strong": 0.0})
        == "strong"
    )

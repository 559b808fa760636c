"""Judge validity: accuracy against baselines, the bias probes, kappa, ECE and the measured/unmeasured gate,
on tiny fake judges (no model)."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence

import pytest

from alignrun.judges.validity import (
    FILLER,
    GATE_RULE,
    accuracy,
    baselines,
    cohen_kappa,
    ece,
    order_probe,
    padding_probe,
    pair_ece,
    pair_probabilities,
    refusal_probe,
    rewrite_probe,
    surface_rewrite,
    validity_report,
    votes,
)


def balanced_pairs(n: int) -> list[dict[str, str]]:
    """Pairs whose chosen answer is longer in half of them and no answer has a refusal keyword, so both
    trivial baselines sit at exactly 0.5. Chosen answers say "good", rejected ones "bad"."""
    rows = []
    for i in range(n):
        short, long = f"A bad answer {i}.", f"A bad but much longer answer number {i}."
        good_short, good_long = f"A good answer {i}.", f"A good and much longer answer number {i}."
        chosen, rejected = (good_long, short) if i % 2 else (good_short, long)
        rows.append({"prompt": f"Question {i}?", "chosen": chosen, "rejected": rejected})
    return rows


class Lookup:
    """Perfect pointwise judge: 1 for an answer it knows is chosen, 0 otherwise."""

    def __init__(self, rows: Sequence[dict[str, str]]) -> None:
        self.good = {r["chosen"] for r in rows}

    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> list[float]:
        return [1.0 if r in self.good else 0.0 for r in responses]


class Random:
    """Scores independent of the answer."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> list[float]:
        return [self.rng.random() for _ in responses]


class Length:
    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> list[float]:
        return [float(len(r)) for r in responses]


class SaysGood:
    """Judges the content ("good"), blind to spelling and spacing."""

    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> list[float]:
        return [float("good" in r) for r in responses]


class Apostrophes:
    """Keyed on a surface feature: the more apostrophes, the better."""

    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> list[float]:
        return [float(r.count("'")) for r in responses]


class First:
    """Pairwise judge with pure position bias: always prefers the answer shown first."""

    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> list[float]:
        return [0.0] * len(responses)

    def prefer(
        self, prompts: Sequence[str], first: Sequence[str], second: Sequence[str]
    ) -> list[float | None]:
        return [1.0] * len(prompts)


class Pairwise(SaysGood):
    """Order-consistent pairwise judge: P(first better) 0.9 when only the first says "good"; unparseable
    (None) on prompts marked "garbled", in both orders for "garbled both", in one order for "garbled once"."""

    def prefer(
        self, prompts: Sequence[str], first: Sequence[str], second: Sequence[str]
    ) -> list[float | None]:
        out: list[float | None] = []
        for p, a in zip(prompts, first, strict=True):
            broken = "garbled both" in p or ("garbled once" in p and "good" in a)
            out.append(None if broken else 0.9 if "good" in a else 0.1)
        return out


def test_a_perfect_judge_is_measured() -> None:
    rows = balanced_pairs(20)
    report = validity_report(Lookup(rows), rows, value="helpful")
    assert report["accuracy"]["accuracy"] == 1.0
    assert report["accuracy"]["n"] == 20 and report["n_pairs"] == 20
    assert report["accuracy"]["low"] == pytest.approx(0.8389, abs=1e-3)  # Wilson, 20/20
    assert report["baselines"]["longer answer"]["accuracy"] == 0.5
    assert report["baselines"]["refusal keyword"]["accuracy"] == 0.5
    assert report["measured"] is True
    assert report["reason"].startswith("helpful: judge accuracy 1.00 [0.84, 1.00] beats")


def test_a_random_judge_is_unmeasured_with_a_reason() -> None:
    rows = balanced_pairs(200)
    report = validity_report(Random(seed=0), rows, value="helpful")
    acc = report["accuracy"]
    assert 0.40 < acc["accuracy"] < 0.60 and acc["n"] == 200
    assert acc["low"] < 0.5
    assert report["measured"] is False
    assert report["reason"] == (
        f"helpful: judge accuracy {acc['accuracy']:.2f} [{acc['low']:.2f}, {acc['high']:.2f}] does not beat "
        f"'longer answer' 0.50 ({GATE_RULE})"
    )


def test_a_length_judge_is_caught_by_padding_and_the_longer_answer_baseline() -> None:
    rows = [
        {"prompt": f"Q{i}?", "chosen": f"A long and detailed answer {i}.", "rejected": "Short."}
        for i in range(30)
    ]
    report = validity_report(Length(), rows)
    assert report["accuracy"]["accuracy"] == 1.0
    assert report["baselines"]["longer answer"]["accuracy"] == 1.0
    assert report["probes"]["padding"]["rate"] == 1.0 and report["probes"]["padding"]["n"] == 60
    assert report["measured"] is False
    assert "does not beat 'longer answer' 1.00" in report["reason"]


def test_padding_is_neutral_for_a_content_judge() -> None:
    assert padding_probe(SaysGood(), balanced_pairs(10))["rate"] == 0.5  # all ties
    assert FILLER.startswith(" ") and "sorry" not in FILLER.lower()


def test_refusal_probe() -> None:
    prompts = ["How do I boil an egg?", "What is the capital of France?"]
    answers = ["Put it in boiling water for nine minutes.", "Paris is the capital of France."]

    class LovesRefusals:
        def score(self, prompts: Sequence[str], responses: Sequence[str]) -> list[float]:
            return [float("sorry" in r.lower()) for r in responses]

    assert refusal_probe(LovesRefusals(), prompts, answers) == {
        "rate": 1.0,
        "low": pytest.approx(0.342, abs=1e-3),
        "high": 1.0,
        "n": 2,
        "unparseable": 0,
    }
    assert refusal_probe(SaysGood(), prompts, [a + " good" for a in answers])["rate"] == 0.0


def test_order_probe_flip_rate() -> None:
    rows = balanced_pairs(10)
    assert order_probe(First(), rows)["rate"] == 1.0  # type: ignore[index]
    assert order_probe(Pairwise(), rows)["rate"] == 0.0  # type: ignore[index]
    assert order_probe(SaysGood(), rows) is None  # pointwise: not applicable
    # asking in both orders cancels pure position bias into ties
    assert votes(First(), rows, pairwise=True) == [0.5] * 10
    report = validity_report(First(), rows, pairwise=True)
    assert report["probes"]["order"]["rate"] == 1.0 and report["accuracy"]["accuracy"] == 0.5


def test_unparseable_pairs_are_counted_not_scored() -> None:
    rows = balanced_pairs(4)
    rows[0]["prompt"] = "garbled both"
    rows[1]["prompt"] = "garbled once"
    v = votes(Pairwise(), rows, pairwise=True)
    assert v == [None, 1.0, 1.0, 1.0]  # one readable order is enough
    assert accuracy(v) == {
        "accuracy": 1.0,
        "low": pytest.approx(0.4385, abs=1e-3),  # Wilson 3/3: the None pair neither helps nor hurts
        "high": 1.0,
        "n": 3,
        "unparseable": 1,
    }
    assert accuracy([None, None])["accuracy"] is None

    class NaNs(SaysGood):
        def score(self, prompts: Sequence[str], responses: Sequence[str]) -> list[float]:
            return [
                float("nan") if "0" in r else s
                for r, s in zip(responses, super().score(prompts, responses), strict=True)
            ]

    assert votes(NaNs(), rows)[0] is None
    report = validity_report(Pairwise(), rows, pairwise=True)
    assert report["accuracy"]["unparseable"] == 1 and report["probes"]["order"]["unparseable"] == 2


def test_surface_rewrite() -> None:
    assert (
        surface_rewrite("I can't  say; it's late and I DON'T know.")
        == "I cannot say; it is late and I DO NOT know."
    )
    assert surface_rewrite("It is fine. I do not know what it is.") == "It's fine. I don't know what it is."
    assert surface_rewrite("It’s been long; I am.") == "It's been long; I am."  # "it has"; clause-final
    assert surface_rewrite("    indented  code") == "    indented code"
    assert surface_rewrite(surface_rewrite("You're right, we cannot.")) == "You're right, we cannot."


def test_rewrite_probe() -> None:
    rows = balanced_pairs(6)
    for r in rows[:4]:
        r["chosen"] += " It's what you asked."
        r["rejected"] += " I do not know it."
    assert surface_rewrite(rows[0]["chosen"]) != rows[0]["chosen"]
    result = rewrite_probe(SaysGood(), rows)
    assert result["rate"] == 1.0 and result["n"] == 4  # only the 4 pairs the rewrite changed count
    # after the swap the rejected answer holds the apostrophe: every verdict reverses
    assert rewrite_probe(Apostrophes(), rows)["rate"] == 0.0


def test_cohen_kappa_closed_form() -> None:
    a = [1.0, 1.0, 1.0, 0.0, 0.0, 0.5, None]
    b = [1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0]
    # the tie and the None are dropped: a = 1 1 1 0 0, b = 1 1 0 0 1
    # p_o = 3/5 = 0.6; p_a = p_b = 3/5; p_e = 0.6*0.6 + 0.4*0.4 = 0.52; kappa = 0.08/0.48 = 1/6
    assert cohen_kappa(a, b) == pytest.approx(1 / 6)
    assert cohen_kappa([1.0, 0.0, 1.0], [1.0, 0.0, 1.0]) == pytest.approx(1.0)
    assert cohen_kappa([1.0], [1.0]) is None  # fewer than 2 items
    assert cohen_kappa([1.0, 1.0], [1.0, 1.0]) is None  # p_e = 1


def test_ece_closed_form() -> None:
    # bin [0.1, 0.2): p = 0.1, 0.15, y = 0, 1 -> |1 - 0.25| = 0.75; bin [0.9, 1]: p = 0.9, 0.95, y = 1, 1
    # -> |2 - 1.85| = 0.15; ECE = (0.75 + 0.15) / 4 = 0.225
    assert ece([0.1, 0.15, 0.9, 0.95], [0, 1, 1, 1]) == pytest.approx(0.225)
    assert ece([0.3, 0.7], [0.3, 0.7]) == pytest.approx(0.0)
    # confidence = max(p, 1-p): 0.8 (right), 0.7 (wrong), 0.5 (tie, half): (0.2 + 0.7 + 0) / 3 = 0.3
    assert pair_ece([0.8, 0.3, 0.5, None]) == pytest.approx(0.3)
    assert pair_ece([None]) is None
    with pytest.raises(ValueError):
        ece([1.2], [1.0])


def test_pair_probabilities() -> None:
    rows = balanced_pairs(2)
    assert pair_probabilities(SaysGood(), rows) == pytest.approx([0.7311, 0.7311], abs=1e-4)  # sigmoid(1)
    assert pair_probabilities(SaysGood(), rows, temperature=0.5) == pytest.approx([0.8808] * 2, abs=1e-4)
    assert pair_probabilities(Pairwise(), rows, pairwise=True) == pytest.approx([0.9, 0.9])


def test_the_report_is_json_and_has_every_part() -> None:
    rows = balanced_pairs(10)
    benign = [("How do I boil an egg?", "A good answer: nine minutes in boiling water.")]
    report = validity_report(
        SaysGood(), rows, benign=benign, logprob=lambda p, r: [-float(len(x)) for x in r]
    )
    assert set(report) == {"accuracy", "baselines", "probes", "ece", "measured", "reason", "n_pairs", "votes"}
    assert set(report["probes"]) == {"padding", "order", "rewrite", "refusal"}
    assert report["probes"]["order"] is None and report["probes"]["refusal"]["rate"] == 0.0
    assert report["baselines"]["base log-prob"]["accuracy"] == 0.5
    assert report["ece"] == pytest.approx(1 - 0.7311, abs=1e-4)  # always right, confidence sigmoid(1)
    assert json.loads(json.dumps(report, allow_nan=False)) == report
    assert baselines(rows).keys() == {"longer answer", "refusal keyword"}


def test_rows_may_be_a_dataset() -> None:
    datasets = pytest.importorskip("datasets")
    rows = balanced_pairs(4)
    assert votes(Lookup(rows), datasets.Dataset.from_list(rows)) == [1.0] * 4

"""Derived materials: prompt splits, the exemplar scorer, on-policy pairs, their cache, judges."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import torch

from alignrun.contracts import Value
from alignrun.data import DataSpec, RunData
from alignrun.derive import Derivation, DeriveConfig
from alignrun.derive.pairs import CONDITIONS, derive_pairs, judge_agreement
from alignrun.derive.prompts import split_prompts
from alignrun.derive.scorer import ExemplarScorer, split_exemplars
from alignrun.errors import AlignrunError
from alignrun.models.tiny import build_tiny
from alignrun.profile.schwartz import scenarios, schwartz_value
from alignrun.schema import GenerationConfig
from tests.conftest import empty_cache

# ----------------------------------------------------------------------------------- prompt splits


def test_schwartz_value_split_is_disjoint_seeded_and_sized() -> None:
    value = schwartz_value("security")
    train, held = split_prompts(value, seed=0, eval_prompts=12)
    assert len(held) == 12 and not set(train) & set(held)
    assert sorted(train + held) == sorted(scenarios())
    assert split_prompts(value, 0, 12) == (train, held)  # deterministic for a seed
    assert split_prompts(value, 1, 12)[1] != held  # and another seed draws others
    other = split_prompts(schwartz_value("power"), 0, 12)[1]
    assert other != held  # per value, not one draw for all


def test_own_eval_prompts_are_kept_and_never_trained_on() -> None:
    value = Value("v", eval_prompts=["a", "b"], prompts=["a", "c", "d"])
    assert split_prompts(value, 0, 12) == (["c", "d"], ["a", "b"])
    with pytest.raises(AlignrunError, match="at least two prompts"):
        split_prompts(Value("w", prompts=["only"]), 0, 12)


# ------------------------------------------------------------------------------ the exemplar scorer


class AxisEmbedder:
    """Embeds a text as the unit vector of the axis named by its first word (a, b, c, d)."""

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        axes = {"a": 0, "b": 1, "c": 2, "d": 3}
        out = torch.zeros(len(texts), 4)
        for i, t in enumerate(texts):
            out[i, axes[t.split()[0]]] = 1.0
        return out


def test_exemplar_scorer_closed_form() -> None:
    scorer = ExemplarScorer(
        "v",
        ["a 1", "a 2"],
        reference={"u": ["b"], "w": ["c"]},
        temperature=0.5,
        embedder=AxisEmbedder(),  # type: ignore[arg-type]
    )
    # e = a-axis: sims (1, 0, 0), centred 1 - 1/3; e = b-axis: (0, 1, 0), centred -1/3; d: all 0
    got = scorer.score(["p"] * 4, ["a yes", "b no", "d other", "  "])
    assert got[:3] == pytest.approx([math.tanh((2 / 3) / 0.5), math.tanh((-1 / 3) / 0.5), 0.0])
    assert got[3] == -1.0  # an empty answer shows no value
    assert scorer.describe()["reference"] == ["u", "w"] and scorer.describe()["exemplars"] == 2


def test_the_scorer_grades_with_the_behavioural_profile_s_prototype_and_centring() -> None:
    """One definition of both (alignrun.profile.behavioural): the scorer's score of an answer is the
    behavioural profile's of that one answer over ``{v} ∪ reference``, to the bit."""
    from alignrun.profile.behavioural import profiles_from_answers, prototype

    embedder: Any = AxisEmbedder()
    h = math.sqrt(0.5)
    assert prototype(["a 1", "b 2"], embedder).tolist() == pytest.approx([h, h, 0.0, 0.0])  # unit mean
    exemplars, reference = ["a 1", "b 2"], {"u": ["b"], "w": ["c", "d"]}
    values = {"v": Value("v", exemplars=exemplars)} | {k: Value(k, exemplars=e) for k, e in reference.items()}
    scorer = ExemplarScorer("v", exemplars, reference=reference, temperature=0.5, embedder=embedder)
    for answer in ["a yes", "b no", "c", "d x"]:
        [(profile, _)] = profiles_from_answers([[answer]], values, embedder, temperature=0.5)
        assert scorer.score(["p"], [answer]) == [profile["v"]]


def test_split_exemplars_disjoint_halves() -> None:
    judge, evaluator = split_exemplars(["e0", "e1", "e2", "e3", "e4"])
    assert judge == ["e0", "e2", "e4"] and evaluator == ["e1", "e3"]
    assert split_exemplars(["x", "y", "z"]) == (["x", "y", "z"], ["x", "y", "z"])  # too few to split


# ------------------------------------------------------------------------------- on-policy pairs


class ScriptedLM:
    """Answers with "<condition>-<prompt>-<k>" so the judge can score by condition."""

    name = "scripted"

    def __init__(self) -> None:
        self.calls = 0

    def generate(
        self, prompts: list[str], cfg: GenerationConfig, seed: int = 0, systems: Any = None
    ) -> list[str]:
        self.calls += 1
        assert cfg.do_sample and systems is not None and len(systems) == len(prompts)
        names = {None: "neutral"}
        out = []
        for k, (p, s) in enumerate(zip(prompts, systems, strict=True)):
            cond = names.get(s) or ("anti" if "no value" in s else "value")
            out.append("" if p == "silent" else f"{cond}-{p}-{k}")
        return out


class ConditionJudge:
    """value answers +1, neutral 0, anti -1; the prompt "close" gets scores 0.1 apart."""

    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> list[float]:
        base = {"value": 1.0, "neutral": 0.0, "anti": -1.0}
        return [
            base.get(r.split("-")[0], 0.0) * (0.05 if p == "close" else 1.0)
            for p, r in zip(prompts, responses, strict=True)
        ]


def test_derive_pairs_keeps_best_vs_worst_above_the_margin() -> None:
    value = Value("v", description="values v")
    out = derive_pairs(
        ScriptedLM(), value, ["p1", "close", "silent"], ConditionJudge(),  # type: ignore[arg-type]
        samples=2, temperature=0.8, max_new_tokens=8, margin=0.5, batch_size=4, seed=0,
    )  # fmt: skip
    rows, stats = out["rows"], out["stats"]
    assert [r["prompt"] for r in rows] == ["p1"]  # "close": margin 0.1 < 0.5; "silent": no answers
    assert rows[0]["chosen"].startswith("value-p1") and rows[0]["rejected"].startswith("anti-p1")
    assert rows[0]["margin"] == pytest.approx(2.0)
    assert stats["pairs"] == 1 and stats["yield"] == pytest.approx(1 / 3)
    assert stats["answers"] == 3 * len(CONDITIONS) * 2 and stats["empty_answers"] == 6
    assert stats["chosen_from"] == {"value": 1} and stats["rejected_from"] == {"anti": 1}


def test_judge_agreement_counts_ties_as_half() -> None:
    class Length:
        def score(self, prompts: Sequence[str], responses: Sequence[str]) -> list[float]:
            return [float(len(r)) for r in responses]

    rows = [
        {"prompt": "p", "chosen": "long", "rejected": "s"},
        {"prompt": "p", "chosen": "ab", "rejected": "cd"},
        {"prompt": "p", "chosen": "x", "rejected": "yy"},
    ]
    assert judge_agreement(Length(), rows) == {"accuracy": pytest.approx(0.5), "pairs": 3.0}
    assert judge_agreement(Length(), None) is None


# ------------------------------------------------------------------------- derivation and its cache

SMALL = DeriveConfig(prompts=3, samples=1, max_new_tokens=8, margin=0.0, eval_prompts=4)


def _derive(lm: Any, cfg: DeriveConfig = SMALL) -> tuple[Derivation, RunData]:
    values = {"security": schwartz_value("security")}
    derivation = Derivation(cfg, seed=0)
    values = derivation.prepare(values)
    spec = DataSpec()
    data = spec.prepare(values)
    derivation.pairs(lm, values, data, spec, needed=True)
    return derivation, data


@pytest.mark.slow
def test_derivation_is_deterministic_and_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lm = build_tiny()
    monkeypatch.setenv("ALIGNRUN_CACHE", str(tmp_path / "a"))
    first, data = _derive(lm)
    rec = first.record["security"]
    assert rec["eval_prompts"]["n"] == 4 and rec["scorer"]["from"] == "exemplars"
    assert rec["pairs"]["cache_hit"] is False and len(data.pairs["security"]) == rec["pairs"]["pairs"] > 0
    assert not set(data.eval_prompts["security"]) & set(data.pairs["security"]["prompt"])
    assert rec["pairs"]["judge_agreement"]["on"] == "heldout_pairs"  # its 64 held-out stance pairs

    calls: list[int] = []

    def no_generation(*args: Any, **kwargs: Any) -> list[str]:
        calls.append(1)
        return []

    monkeypatch.setattr(type(lm), "generate", no_generation)
    again, data2 = _derive(lm)
    assert calls == [] and again.record["security"]["pairs"]["cache_hit"] is True
    assert data2.pairs["security"].to_list() == data.pairs["security"].to_list()
    monkeypatch.undo()

    monkeypatch.setenv("ALIGNRUN_CACHE", str(tmp_path / "b"))  # an empty cache: built anew, same pairs
    fresh, data3 = _derive(build_tiny())
    assert fresh.record["security"]["pairs"]["cache_hit"] is False
    assert data3.pairs["security"].to_list() == data.pairs["security"].to_list()


def test_an_interrupted_derivation_leaves_no_cache_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALIGNRUN_CACHE", empty_cache(tmp_path))
    lm = build_tiny()

    class Killed:
        """The real judge's identity, but killed (as by a signal) while it scores."""

        def __init__(self, judge: Any) -> None:
            self.describe = judge.describe

        def score(self, prompts: Sequence[str], responses: Sequence[str]) -> list[float]:
            raise KeyboardInterrupt

    values = {"security": schwartz_value("security")}
    derivation = Derivation(SMALL, seed=0)
    values = derivation.prepare(values)
    derivation.judges["security"] = Killed(derivation.judges["security"])
    spec = DataSpec()
    with pytest.raises(KeyboardInterrupt):
        derivation.pairs(lm, values, spec.prepare(values), spec, needed=True)
    assert not list(tmp_path.rglob("*.json")) and not list(tmp_path.rglob("*.tmp"))  # absent, not half
    derivation, _ = _derive(lm)
    (entry,) = tmp_path.rglob("pairs-security-*.json")
    doc = json.loads(entry.read_text())
    assert doc["entry"]["rows"] and doc["inputs"]["model"] == lm.name
    assert derivation.record["security"]["pairs"]["cache"] == str(entry)


def test_an_entry_with_other_inputs_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from alignrun.derive.store import cached

    monkeypatch.setenv("ALIGNRUN_CACHE", str(tmp_path))
    _, path, hit = cached("pairs", "v", {"x": 1}, lambda: {"rows": [1]})
    assert not hit and cached("pairs", "v", {"x": 1}, lambda: {"rows": [2]})[0] == {"rows": [1]}
    doc = json.loads(path.read_text())
    doc["inputs"] = {"x": 2}
    path.write_text(json.dumps(doc))
    assert cached("pairs", "v", {"x": 1}, lambda: {"rows": [3]}) == ({"rows": [3]}, path, False)


def test_no_pairs_above_the_margin_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALIGNRUN_CACHE", empty_cache(tmp_path))
    with pytest.raises(AlignrunError, match=r"lower derive\.margin"):
        _derive(build_tiny(), DeriveConfig(prompts=2, samples=1, max_new_tokens=4, margin=50.0))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pairs": "sometimes"}, "derive.pairs"),
        ({"samples": 0}, r"derive\.samples must be >= 1"),
        ({"margin": -1}, "margin"),
    ],
)
def test_bad_derive_settings(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(AlignrunError, match=message):
        DeriveConfig(**kwargs)

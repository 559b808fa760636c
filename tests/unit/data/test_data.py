"""Bundled data and the ``data=`` spec: counts, columns, caps, clear errors."""

from __future__ import annotations

import pytest
from datasets import Dataset

from alignrun import AlignrunError, Value
from alignrun.data import DataSpec
from alignrun.data.bundled import FILES, bundled_text, eval_pairs, eval_prompts, pairs, read_jsonl
from alignrun.data.shortcuts import (
    agreements,
    longer_votes,
    refusal_votes,
    shortcut_warnings,
    wilson,
)
from alignrun.profile.schwartz import SCHWARTZ_VALUES, schwartz_value

VALUES = ["helpful", "harmless", "honest"]


@pytest.mark.parametrize("name", VALUES)
def test_bundled_value_data(name: str) -> None:
    ds = pairs(name)
    assert ds.column_names == ["prompt", "chosen", "rejected"]
    assert len(ds) >= 300
    assert all(row["chosen"] != row["rejected"] for row in ds)
    assert len(set(ds["prompt"])) == len(ds)
    prompts = eval_prompts(name)
    assert len(prompts) >= 100
    held_out = eval_pairs(name)
    assert held_out.column_names == ["prompt", "chosen", "rejected"] and held_out["prompt"] == prompts
    norm = {" ".join(p.lower().split()) for p in ds["prompt"]}
    assert not {" ".join(p.lower().split()) for p in prompts} & norm  # held out


@pytest.mark.parametrize("name", SCHWARTZ_VALUES)
def test_schwartz_stance_pairs(name: str) -> None:
    train, held = read_jsonl(f"{name}.pairs.jsonl"), read_jsonl(f"{name}.eval.jsonl")
    assert len(held) >= 60 and len(train) >= 60
    prompts = [" ".join(r["prompt"].lower().split()) for r in train + held]
    assert len(set(prompts)) == len(prompts)  # distinct, and none held out is trained on
    for r in train + held:  # matched in length: the stance separates them, not how much is said
        assert set(r) == {"prompt", "chosen", "rejected"}
        assert 0.75 <= len(r["chosen"]) / len(r["rejected"]) <= 1.33, r["prompt"]
    assert schwartz_value(name).heldout_pairs["prompt"] == [r["prompt"] for r in held]


PAIR_FILES = sorted(p.name for p in FILES.iterdir() if p.name.endswith((".pairs.jsonl", ".eval.jsonl")))


def test_every_value_has_its_pair_files() -> None:
    assert len(PAIR_FILES) == 2 * (len(VALUES) + len(SCHWARTZ_VALUES))


@pytest.mark.parametrize("name", PAIR_FILES)
def test_no_shortcut_predicts_the_labels(name: str) -> None:
    # "prefer the longer answer" and "prefer the refusal keyword" agree with the labels 40-60% of the time
    rows = read_jsonl(name)
    for a in agreements(rows):
        assert 0.40 <= a.rate <= 0.60, f"{name}: prefer the {a.name} agrees {a.rate:.2f}"
    assert not shortcut_warnings(rows, name)


def test_shortcut_baselines_on_known_pairs() -> None:
    rows = [
        {"prompt": "a", "chosen": "long answer here", "rejected": "short"},  # longer: 1; keyword: tie
        {"prompt": "b", "chosen": "I can't help with that.", "rejected": "Sure, step one: this."},  # 1; 1
        {"prompt": "c", "chosen": "same", "rejected": "SAME"},  # tie; tie
        {"prompt": "d", "chosen": "Yes.", "rejected": "Sorry, but I won’t."},  # 0 (shorter); 0
    ]
    assert longer_votes(rows) == [1.0, 1.0, 0.5, 0.0]
    assert refusal_votes(rows) == [0.5, 1.0, 0.5, 0.0]
    longer, keyword = agreements(rows)
    assert longer.rate == pytest.approx(2.5 / 4) and keyword.rate == pytest.approx(2 / 4)
    assert longer.low < longer.rate < longer.high and not longer.balanced and keyword.balanced
    assert wilson(0, 10)[0] == 0.0 and wilson(10, 10)[1] == pytest.approx(1.0)
    lo, hi = wilson(5, 10)  # the textbook Wilson interval for 5 of 10
    assert lo == pytest.approx(0.2366, abs=1e-4) and hi == pytest.approx(0.7634, abs=1e-4)
    assert len(shortcut_warnings(rows * 5, "mine")) == 1


def test_missing_bundled_file_is_clear() -> None:
    with pytest.raises(AlignrunError, match="no bundled data file"):
        read_jsonl("nope.pairs.jsonl")


def test_bundled_text_is_deterministic() -> None:
    assert list(bundled_text()) == list(bundled_text())


def _value(name: str, n: int = 10) -> Value:
    rows = [{"prompt": f"p{i}", "chosen": "c", "rejected": "r"} for i in range(n)]
    return Value(name=name, preference_data=Dataset.from_list(rows), eval_prompts=[f"e{i}" for i in range(n)])


def test_caps_are_seeded_subsamples() -> None:
    values = {"a": _value("a")}
    one = DataSpec(max_pairs=3, max_eval_prompts=2, seed=1).prepare(values)
    two = DataSpec(max_pairs=3, max_eval_prompts=2, seed=1).prepare(values)
    assert len(one.pairs["a"]) == 3 and len(one.eval_prompts["a"]) == 2
    assert one.pairs["a"]["prompt"] == two.pairs["a"]["prompt"]
    assert DataSpec().prepare(values).eval_prompts["a"] == [f"e{i}" for i in range(10)]


def test_eval_subsets_do_not_depend_on_the_pair_cap_or_the_other_values() -> None:
    alone = DataSpec(max_eval_prompts=4, seed=3).prepare({"b": _value("b")}).eval_prompts["b"]
    capped = DataSpec(max_pairs=2, max_eval_prompts=4, seed=3)
    assert capped.prepare({"a": _value("a"), "b": _value("b")}).eval_prompts["b"] == alone
    assert DataSpec(max_eval_prompts=4, seed=4).prepare({"b": _value("b")}).eval_prompts["b"] != alone


def test_sources_replace_a_values_pairs() -> None:
    other = Dataset.from_list([{"prompt": "x", "chosen": "y", "rejected": "z"}])
    data = DataSpec(sources={"a": other}).prepare({"a": _value("a")})
    assert data.pairs["a"]["prompt"] == ["x"]
    unused = {"b": {"_target_": "builtins.exec", "source": "raise SystemExit('must not be built')"}}
    assert DataSpec(sources=unused).prepare({"a": _value("a")}).pairs["a"]["prompt"][0] == "p0"
    node = {
        "_target_": "datasets.Dataset.from_list",
        "mapping": [{"prompt": "n", "chosen": "y", "rejected": "z"}],
    }
    assert DataSpec(sources={"a": node}).prepare({"a": _value("a")}).pairs["a"]["prompt"] == ["n"]


def test_missing_columns_and_empty_data_are_clear() -> None:
    bad = Value(name="a", preference_data=Dataset.from_list([{"prompt": "x", "answer": "y"}]))
    with pytest.raises(AlignrunError, match="lacks column"):
        DataSpec().prepare({"a": bad})
    empty = Value(name="a", preference_data=Dataset.from_dict({"prompt": [], "chosen": [], "rejected": []}))
    with pytest.raises(AlignrunError, match="empty"):
        DataSpec().prepare({"a": empty})


def test_harmless_refusals_are_on_both_sides() -> None:
    # harmful requests: the refusal is chosen; benign requests that only sound dangerous ("kill a Python
    # process"): the needless refusal is rejected, so refusing is no shortcut to a harmless score
    from alignrun.data.shortcuts import has_refusal

    for rows in (read_jsonl("harmless.pairs.jsonl"), read_jsonl("harmless.eval.jsonl")):
        chosen = sum(has_refusal(r["chosen"]) and not has_refusal(r["rejected"]) for r in rows)
        rejected = sum(has_refusal(r["rejected"]) and not has_refusal(r["chosen"]) for r in rows)
        assert chosen >= 0.2 * len(rows) and rejected >= 0.2 * len(rows)


def test_the_data_card_in_the_docs_is_current() -> None:
    # docs/data.md's table is what `python bench/data_card.py` prints for the files as they are
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    spec = importlib.util.spec_from_file_location("data_card", root / "bench" / "data_card.py")
    assert spec is not None and spec.loader is not None
    card = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(card)
    rows = [card.card_row(name, read_jsonl(name)) for name in card.bundled_files()]
    doc = (root / "docs" / "data.md").read_text(encoding="utf-8")
    assert card.HEADER in doc and "\n".join(rows) in doc, "rerun python bench/data_card.py into docs/data.md"

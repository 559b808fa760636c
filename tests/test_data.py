"""Bundled data and the ``data=`` spec: counts, columns, caps, clear errors."""

from __future__ import annotations

import pytest
from datasets import Dataset

from alignrun import AlignrunError, Value
from alignrun.data import DataSpec
from alignrun.data.bundled import bundled_text, eval_pairs, eval_prompts, pairs, read_jsonl

VALUES = ["helpful", "harmless", "honest"]


@pytest.mark.parametrize("name", VALUES)
def test_bundled_value_data(name: str) -> None:
    ds = pairs(name)
    assert ds.column_names == ["prompt", "chosen", "rejected"]
    assert len(ds) >= 150
    assert all(row["chosen"] != row["rejected"] for row in ds)
    assert len(set(ds["prompt"])) == len(ds)
    prompts = eval_prompts(name)
    assert len(prompts) >= 40
    held_out = eval_pairs(name)
    assert held_out.column_names == ["prompt", "chosen", "rejected"] and held_out["prompt"] == prompts
    norm = {" ".join(p.lower().split()) for p in ds["prompt"]}
    assert not {" ".join(p.lower().split()) for p in prompts} & norm  # held out


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


def test_harmful_requests_make_the_value_conflict_real() -> None:
    # the rejected (harmful) answers are the compliant, helpful-looking ones
    from alignrun.scorers.phrase import refusal_scorer

    ds = pairs("harmless")
    refusing = refusal_scorer()
    assert sum(refusing.matches(r) for r in ds["rejected"]) < 0.1 * len(ds)

"""Value profiles: the Schwartz data, the self-report and behavioural estimators."""

from __future__ import annotations

import pytest
import torch

from alignrun import AlignrunError, Value
from alignrun.models.tiny import build_tiny
from alignrun.profile import ValueProfiler
from alignrun.profile.schwartz import SCHWARTZ_VALUES, counter_exemplars, scenarios, schwartz_values
from alignrun.profile.self_report import aggregate, balanced, item_prompts, logprob_p_yes, parse_yes_no


def test_schwartz_value_system() -> None:
    values = schwartz_values()
    assert list(values) == list(SCHWARTZ_VALUES) and len(values) == 10
    for name, value in values.items():
        items = value.questionnaire or []
        assert len(items) >= 10, name
        assert {i["polarity"] for i in items} == {1, -1}, name  # mixed polarity
        assert all(i["question"].startswith("Should I ") and i["question"].endswith("?") for i in items)
        assert value.description and len(value.exemplars or []) >= 5
    assert len(scenarios()) >= 30
    assert list(schwartz_values(["power", "benevolence"])) == ["power", "benevolence"]  # circumplex order


def test_aggregate_is_the_polarity_weighted_mean() -> None:
    keys = [("a", 1), ("a", -1), ("b", 1)]
    # a: (+1)(2·0.9-1) and (-1)(2·0.2-1) -> mean(0.8, 0.6) = 0.7 ; b: 2·0.5-1 = 0
    assert aggregate(keys, [0.9, 0.2, 0.5], ["a", "b"]) == pytest.approx({"a": 0.7, "b": 0.0})


def test_balanced_item_subsets() -> None:
    items = [{"q": i, "polarity": p} for i, p in enumerate([1, 1, 1, -1, 1, -1])]
    assert [i["q"] for i in balanced(items, 2)] == [0, 3]
    assert [i["q"] for i in balanced(items, 3)] == [0, 1, 3]
    assert [i["q"] for i in balanced(items, 5)] == [0, 1, 2, 3, 5]  # only two negatives exist
    assert balanced(items, None) == balanced(items, 9) == items
    prompts, keys = item_prompts(schwartz_values(["power", "benevolence"]), per_value=4)
    assert len(prompts) == 8 and sorted(p for _, p in keys) == [-1] * 4 + [1] * 4


@pytest.mark.parametrize(
    ("answer", "p"),
    [("Yes, you should.", 1.0), ("no.", 0.0), ("**No** — it depends", 0.0), ("Maybe", 0.5), ("", 0.5)],
)
def test_parse_yes_no(answer: str, p: float) -> None:
    assert parse_yes_no(answer) == p


def test_logprob_matches_a_direct_softmax() -> None:
    lm = build_tiny()
    prompts = [
        "Should I help? Answer with yes or no.",
        "Should I rest today instead of working late? Answer with yes or no.",
    ]
    got = logprob_p_yes(lm, prompts, batch_size=2)
    tok = lm.tokenizer
    yes = {
        tok(v, add_special_tokens=False)["input_ids"][0]
        for v in ("yes", "Yes", " yes", " Yes")
        if len(tok(v, add_special_tokens=False)["input_ids"]) == 1
    }
    no = {
        tok(v, add_special_tokens=False)["input_ids"][0]
        for v in ("no", "No", " no", " No")
        if len(tok(v, add_special_tokens=False)["input_ids"]) == 1
    }
    for prompt, p in zip(prompts, got, strict=True):
        ids = tok(lm.chat([prompt]), return_tensors="pt", add_special_tokens=False)["input_ids"]
        with torch.no_grad():  # unpadded, one at a time
            probs = torch.softmax(lm.model(input_ids=ids).logits[0, -1], -1)
        p_yes, p_no = probs[sorted(yes)].sum(), probs[sorted(no)].sum()
        assert p == pytest.approx(float(p_yes / (p_yes + p_no)), abs=1e-4)


@pytest.mark.parametrize("mode", ["logprob", "generate", "behavioural"])
def test_profiler_modes_on_the_tiny_model(mode: str) -> None:
    values = schwartz_values(["power", "benevolence", "universalism"])
    profiler = ValueProfiler(mode, values, scenarios()[:4], max_new_tokens=6)
    result = profiler.measure(build_tiny())
    assert list(result.scores) == list(values)
    assert all(-1.0 <= s <= 1.0 for s in result.scores.values())
    expected_rows = 4 if mode == "behavioural" else len(item_prompts(values)[0])
    assert len(result.details) == expected_rows


def test_profiler_rejects_bad_settings() -> None:
    with pytest.raises(AlignrunError, match=r"profile\.mode"):
        ValueProfiler("vibes", schwartz_values())
    with pytest.raises(AlignrunError, match="scenarios"):
        ValueProfiler("behavioural", schwartz_values(), scenarios=[])
    with pytest.raises(AlignrunError, match="questionnaire"):
        ValueProfiler("logprob", {"x": Value(name="x")})


def test_behavioural_classifier_recognises_held_out_exemplars() -> None:
    """Leave-one-out: each exemplar is closest to its own value's prototype (most of the time),
    and a value's counter-exemplars lean away from it more than its exemplars do."""
    from alignrun.embeddings import default_embedder
    from alignrun.profile.behavioural import centred_similarities, prototypes

    embedder = default_embedder()
    values = schwartz_values()
    names = list(values)
    hits = total = 0
    for i, name in enumerate(names):
        for k, text in enumerate(values[name].exemplars or []):
            held_out = {
                n: Value(
                    name=n, exemplars=[e for j, e in enumerate(v.exemplars or []) if n != name or j != k]
                )
                for n, v in values.items()
            }
            sims = centred_similarities([text], prototypes(held_out, embedder), embedder)[0]
            hits += int(sims.argmax()) == i
            total += 1
    assert hits / total >= 0.6  # chance is 0.1
    protos = prototypes(values, embedder)
    counters = counter_exemplars()
    leaning = [
        centred_similarities(values[n].exemplars or [], protos, embedder)[:, i].mean()
        > centred_similarities(counters[n], protos, embedder)[:, i].mean()
        for i, n in enumerate(names)
    ]
    assert sum(leaning) >= 8


def _table(shifts_by_mode: dict[str, dict[str, dict[str, float]]]) -> dict[str, dict[str, object]]:
    """A check table from per-mode {target: {value: shift}}, ranked as run_check ranks."""
    from alignrun.lib.measurement.check import rank_row

    return {
        mode: {
            "plain": dict.fromkeys(next(iter(rows.values())), 0.0),
            "targets": {t: rank_row(t, s) for t, s in rows.items()},
        }
        for mode, rows in shifts_by_mode.items()
    }


def test_check_ranks_ties_at_mid_rank_and_picks_the_responsive_mode() -> None:
    from alignrun.lib.measurement.check import choose_mode, summarise

    inert = {t: dict.fromkeys("abcd", 0.0) for t in "abcd"}  # nothing moves: chance, not first place
    responsive = {t: {v: (0.3 if v == t else 0.05 * i) for i, v in enumerate("abcd")} for t in "abcd"}
    table = _table({"behavioural": inert, "logprob": responsive})
    summary = summarise(table, 4)
    assert summary["check/behavioural/mean_rank"] == summary["check/chance_rank"] == 2.5
    assert summary["check/logprob/mean_rank"] == 1.0 and summary["check/logprob/moved_up"] == 1.0
    assert choose_mode(table, 4) == ("logprob", True)
    assert choose_mode(_table({"behavioural": inert}), 4) == ("behavioural", False)


def test_run_check_on_the_tiny_model() -> None:
    from alignrun.lib.measurement.check import run_check

    values = schwartz_values(["power", "benevolence", "universalism"])
    table = run_check(build_tiny(), values, scenarios()[:2], ["logprob"], targets=["power"], items=2)
    row = table["logprob"]["targets"]["power"]
    assert set(row["shifts"]) == set(values) and 1 <= row["rank"] <= 3
    with pytest.raises(AlignrunError, match="targets"):
        run_check(build_tiny(), values, [], ["logprob"], targets=["kindness"])

"""The bundled Schwartz value system: 10 basic values, questionnaire items, behavioural scenarios.

Schwartz (1992; 2012, "An overview of the Schwartz theory of basic values"). Every
definition, exemplar, item and scenario here was written for alignrun; none is taken from the
PVQ, SVS or ValueBench. Items are "Should I ...?" questions with a polarity: +1 when "yes"
expresses the value, -1 when "yes" goes against it.
"""

from __future__ import annotations

from typing import Any

from alignrun.contracts import Value
from alignrun.data.bundled import read_jsonl
from alignrun.errors import AlignrunError

SCHWARTZ_VALUES = (
    "self_direction",
    "stimulation",
    "hedonism",
    "achievement",
    "power",
    "security",
    "conformity",
    "tradition",
    "benevolence",
    "universalism",
)  # fmt: skip  (circumplex order: neighbours are compatible, opposites conflict)


def schwartz_values(names: list[str] | None = None) -> dict[str, Value]:
    """The 10 values (or ``names`` of them, in circumplex order) with definition, items, exemplars, and
    their held-out stance pairs (``<value>.eval.jsonl``: one scenario, an answer acting on the value and
    one against it, matched in length) that measure judges. Their training stance pairs are not the
    values' preference data: methods derive on-policy pairs unless ``data=stance`` supplies them."""
    from alignrun.data.bundled import eval_pairs

    rows = {row["value"]: row for row in read_jsonl("schwartz.values.jsonl")}
    items: dict[str, list[dict[str, Any]]] = {}
    for item in read_jsonl("schwartz.questionnaire.jsonl"):
        items.setdefault(item["value"], []).append(
            {"question": item["question"], "polarity": item["polarity"]}
        )
    chosen = [v for v in SCHWARTZ_VALUES if names is None or v in names]
    return {
        v: Value(
            name=v,
            description=rows[v]["definition"],
            questionnaire=items[v],
            exemplars=rows[v]["exemplars"],
            counter_exemplars=rows[v]["counter_exemplars"],
            heldout_pairs=eval_pairs(v),
        )
        for v in chosen
    }


def schwartz_value(name: str, weight: float = 1.0) -> Value:
    """One bundled Schwartz value (``values=[benevolence]``); what it lacks for a method is derived."""
    if name not in SCHWARTZ_VALUES:
        raise AlignrunError(f"'{name}' is not one of Schwartz's values: {', '.join(SCHWARTZ_VALUES)}")
    value = schwartz_values([name])[name]
    value.weight = weight
    return value


def counter_exemplars() -> dict[str, list[str]]:
    """Per value, first-person behaviour that goes against it (used to validate the classifier)."""
    return {row["value"]: row["counter_exemplars"] for row in read_jsonl("schwartz.values.jsonl")}


def scenarios() -> list[str]:
    """Open-ended everyday situations whose answers express different values."""
    return [row["scenario"] for row in read_jsonl("scenarios.jsonl")]

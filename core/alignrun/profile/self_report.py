"""Self-reported value profiles: the model answers yes/no questionnaire items.

Item score ``s = polarity · (2·P(yes) - 1)`` in [-1, 1]; a value's score is the mean over its
items (the polarity-weighted mean of Schwartz-style questionnaires, in [-1, 1]).

- ``logprob``: ``P(yes) = p_yes / (p_yes + p_no)`` from the next-token distribution right
  after the chat template's assistant prefix, summing the probability of each spelling of
  "yes" / "no" that is a single token. One batched forward pass per batch, no sampling.
- ``generate``: the paper's way — generate a short answer greedily and parse its first word;
  ``P(yes)`` is 1 for yes, 0 for no, 0.5 (item score 0) when it is neither.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from alignrun.contracts import Value
from alignrun.lm import LM
from alignrun.schema import GenerationConfig

INSTRUCTION = "Answer with yes or no."
_FIRST_WORD = re.compile(r"[a-z]+")


def balanced(items: list[dict[str, Any]], k: int | None) -> list[dict[str, Any]]:
    """The first ``k`` items with polarities as balanced as possible (``k`` None: all), in their order.

    Half the items of each polarity keeps a yes-bias from posing as a value.
    """
    if k is None or k >= len(items):
        return list(items)
    pos = [i for i, item in enumerate(items) if int(item["polarity"]) > 0]
    neg = [i for i, item in enumerate(items) if int(item["polarity"]) <= 0]
    n_pos = min(len(pos), max(k - len(neg), (k + 1) // 2))
    keep = set(pos[:n_pos] + neg[: k - n_pos])
    return [item for i, item in enumerate(items) if i in keep]


def item_prompts(
    values: Mapping[str, Value], per_value: int | None = None
) -> tuple[list[str], list[tuple[str, int]]]:
    """Questionnaire items as prompts (``per_value`` per value, balanced) and their (value, polarity)."""
    prompts, keys = [], []
    for name, value in values.items():
        for item in balanced(list(value.questionnaire or []), per_value):
            prompts.append(f"{item['question']} {INSTRUCTION}")
            keys.append((name, int(item["polarity"])))
    return prompts, keys


def _single_token_ids(tokenizer: object, words: list[str]) -> list[int]:
    ids = set()
    for word in words:
        for variant in (word, word.capitalize(), " " + word, " " + word.capitalize()):
            enc = tokenizer(variant, add_special_tokens=False)["input_ids"]  # type: ignore[operator]
            if len(enc) == 1:
                ids.add(enc[0])
    return sorted(ids)


def item_scores(keys: list[tuple[str, int]], p_yes: list[float]) -> dict[str, list[float]]:
    """Per value, each item's polarity-signed score ``polarity · (2·p_yes - 1)`` in [-1, 1]."""
    items: dict[str, list[float]] = {}
    for (name, polarity), p in zip(keys, p_yes, strict=True):
        items.setdefault(name, []).append(polarity * (2.0 * p - 1.0))
    return items


def aggregate(keys: list[tuple[str, int]], p_yes: list[float], names: list[str]) -> dict[str, float]:
    """Polarity-weighted mean item score per value."""
    items = item_scores(keys, p_yes)
    return {n: sum(items[n]) / len(items[n]) for n in names if n in items}


@torch.inference_mode()
def logprob_p_yes(
    lm: LM, prompts: list[str], batch_size: int = 16, systems: Sequence[str | None] | None = None
) -> list[float]:
    """``p_yes / (p_yes + p_no)`` of the next token after each prompt's assistant prefix.

    ``systems``: one system text per prompt (a role), as in ``LM.chat``.
    """
    tok = lm.tokenizer
    yes, no = _single_token_ids(tok, ["yes"]), _single_token_ids(tok, ["no"])
    tok.padding_side = "left"  # the last position is every row's next-token position
    out: list[float] = []
    for start in range(0, len(prompts), batch_size):
        end = start + batch_size
        enc = tok(
            lm.chat(prompts[start:end], None if systems is None else systems[start:end]),
            return_tensors="pt",
            padding=True,
            add_special_tokens=False,
        ).to(lm.device)
        with lm.precision():
            logits = (
                lm.model(**enc, logits_to_keep=1).logits[:, -1, :].float()
            )  # LM head on the last position only
        logp = torch.log_softmax(logits, dim=-1)
        lp_yes, lp_no = torch.logsumexp(logp[:, yes], -1), torch.logsumexp(logp[:, no], -1)
        out.extend(torch.sigmoid(lp_yes - lp_no).tolist())  # = p_yes / (p_yes + p_no)
    return out


def parse_yes_no(answer: str) -> float:
    """1.0 for an answer starting with yes, 0.0 for no, 0.5 otherwise."""
    match = _FIRST_WORD.search(answer.lower())
    word = match.group(0) if match else ""
    return 1.0 if word == "yes" else 0.0 if word == "no" else 0.5


def generate_p_yes(
    lm: LM,
    prompts: list[str],
    batch_size: int = 16,
    systems: Sequence[str | None] | None = None,
    max_new_tokens: int = 6,
) -> list[float]:
    """Greedy short answers, parsed to 1 / 0 / 0.5."""
    cfg = GenerationConfig(max_new_tokens=max_new_tokens, batch_size=batch_size, progress=False)
    return [parse_yes_no(a) for a in lm.generate(prompts, cfg, systems=systems)]

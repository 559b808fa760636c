"""Find an SAE's value features automatically: which features fire more on value-positive material?

Three kinds of contrastive material for a value X, each a set of (positive, negative) chat
conversations whose *assistant turn* is where the features are read (mean activation over its tokens):

- ``answers``: the model's own answers to the bundled scenarios when told "You strongly value X ..." vs
  "You strongly reject X ..." — read back *without* that system prompt, so a feature must respond to
  what the answer says, not to the instruction;
- ``questionnaire``: X's yes/no items answered the way that expresses X vs the opposite way;
- ``exemplars``: first-person behaviour expressing X vs going against it (X's exemplars and
  counter-exemplars), as the assistant's reply;
- ``pairs``: X's preference pairs where it has any (the run's ``data`` for X, else
  ``Value.preference_data``): the chosen vs the rejected response to the same prompt.

Per material, a feature's score is Cohen's d between its positive and negative activations
(``(mean_pos - mean_neg) / sqrt((var_pos + var_neg) / 2)``); the ranking uses the mean over
materials, so a feature must separate X-material consistently. A random-feature control draws from
the features that fire on the material at all, excluding the top ones.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from alignrun.contracts import Value
from alignrun.errors import AlignrunError
from alignrun.lib.sae.activations import layer_output, tokenize
from alignrun.lib.sae.model import SparseAutoencoder
from alignrun.lm import LM
from alignrun.schema import GenerationConfig

MATERIALS = ("answers", "questionnaire", "exemplars", "pairs")
UP = "You strongly value {label}: {definition} Let this value guide every answer you give."
DOWN = "You strongly reject {label}: {definition} Never let it guide your answers."
EXEMPLAR_PROMPT = "Tell me about something you did recently."

Turn = tuple[str, str]  # (user prompt, assistant reply)


@dataclass
class FeatureRanking:
    """Features ranked by their contrast for one value.

    ``scores[f]`` is the mean Cohen's d over materials; ``per_material[m]`` the d of each top feature
    in material ``m``; ``random`` the control features.
    """

    value: str
    top: list[int]
    scores: list[float]
    random: list[int]
    per_material: dict[str, list[float]] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)


@torch.inference_mode()
def assistant_features(
    lm: LM,
    sae: SparseAutoencoder,
    layer: int,
    turns: Sequence[Turn],
    batch_size: int = 16,
    max_length: int = 384,
) -> torch.Tensor:
    """``[n, d_sae]``: each conversation's SAE features averaged over its assistant reply's tokens."""
    tok = lm.tokenizer
    tok.padding_side = "right"
    out = []
    for start in range(0, len(turns), batch_size):
        batch = turns[start : start + batch_size]
        prefixes = [lm.chat([user])[0] for user, _ in batch]
        texts = [p + reply for p, (_, reply) in zip(prefixes, batch, strict=True)]
        enc = tokenize(lm, texts, max_length)
        starts = [len(tok(p, add_special_tokens=False)["input_ids"]) for p in prefixes]
        f = sae.encode(layer_output(lm, layer, enc).float().cpu())  # [b, t, d_sae]
        mask = enc["attention_mask"].bool().cpu()
        for i, s in enumerate(starts):
            span = mask[i].clone()
            span[: min(s, span.numel())] = False  # the reply only
            if not bool(span.any()):  # a prompt cut by max_length: fall back to its last token
                span[int(mask[i].sum()) - 1] = True
            out.append(f[i][span].mean(0))
    return torch.stack(out) if out else torch.empty(0, sae.d_sae)


def cohens_d(pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    """Per feature: standardized mean difference; 0 where neither side varies."""
    diff = pos.mean(0) - neg.mean(0)
    var = (pos.var(0, unbiased=False) + neg.var(0, unbiased=False)) / 2
    return torch.where(var > 1e-12, diff / var.clamp(min=1e-12).sqrt(), torch.zeros_like(diff))


def materials(
    lm: LM,
    value: Value,
    scenarios: Sequence[str],
    max_new_tokens: int = 48,
    pairs: Any = None,
    max_pairs: int = 64,
) -> dict[str, tuple[list[Turn], list[Turn]]]:
    """The (positive, negative) conversations of every material for ``value``.

    ``pairs`` (rows with ``prompt``, ``chosen``, ``rejected``; default ``value.preference_data``)
    contributes at most ``max_pairs`` of them, spread evenly over the set.
    """
    label = value.name.replace("_", "-")
    out: dict[str, tuple[list[Turn], list[Turn]]] = {}
    if scenarios:
        cfg = GenerationConfig(max_new_tokens=max_new_tokens, batch_size=48, progress=False)
        texts = [t.format(label=label, definition=value.description) for t in (UP, DOWN)]
        answers = lm.generate(list(scenarios) * 2, cfg, systems=[t for t in texts for _ in scenarios])
        n = len(scenarios)
        out["answers"] = (
            list(zip(scenarios, answers[:n], strict=True)),
            list(zip(scenarios, answers[n:], strict=True)),
        )
    items = value.questionnaire or []
    if items:
        agree = [
            (f"{i['question']} Answer with yes or no.", "Yes." if i["polarity"] > 0 else "No.") for i in items
        ]
        disagree = [(q, "No." if a == "Yes." else "Yes.") for q, a in agree]
        out["questionnaire"] = (agree, disagree)
    from alignrun.profile.schwartz import counter_exemplars

    counters = counter_exemplars().get(value.name, [])
    if value.exemplars and counters:
        out["exemplars"] = (
            [(EXEMPLAR_PROMPT, e) for e in value.exemplars],
            [(EXEMPLAR_PROMPT, c) for c in counters],
        )
    rows = preference_rows(value.preference_data if pairs is None else pairs, max_pairs)
    if rows:
        out["pairs"] = (
            [(r["prompt"], r["chosen"]) for r in rows],
            [(r["prompt"], r["rejected"]) for r in rows],
        )
    return out


def preference_rows(pairs: Any, k: int) -> list[dict[str, str]]:
    """``k`` rows spread evenly over a ``datasets.Dataset`` or a list of pair dicts (none for None)."""
    if pairs is None:
        return []
    n = len(pairs)
    picks = range(n) if n <= k else (i * n // k for i in range(k))
    return [dict(pairs[i]) for i in picks]


def rank_features(
    lm: LM,
    sae: SparseAutoencoder,
    layer: int,
    value: Value,
    scenarios: Sequence[str],
    n_top: int = 4,
    n_random: int = 3,
    seed: int = 0,
    max_new_tokens: int = 48,
    pairs: Any = None,
) -> FeatureRanking:
    """Rank ``sae``'s features for ``value`` over every material it has; draw the random control.

    ``pairs``: preference pairs for ``value`` (default ``value.preference_data``), see :func:`materials`.
    """
    found = materials(lm, value, scenarios, max_new_tokens, pairs)
    if not found:
        raise AlignrunError(
            f"value '{value.name}' has no material to find features with "
            "(scenarios, items, exemplars, preference pairs)"
        )
    ds: dict[str, torch.Tensor] = {}
    active = torch.zeros(sae.d_sae, dtype=torch.bool)
    for name, (pos, neg) in found.items():
        fp, fn = assistant_features(lm, sae, layer, pos), assistant_features(lm, sae, layer, neg)
        ds[name] = cohens_d(fp, fn)
        active |= (fp > 0).any(0) | (fn > 0).any(0)
    mean_d = torch.stack(list(ds.values())).mean(0)
    top = [int(i) for i in mean_d.argsort(descending=True)[:n_top]]
    pool = sorted(set(torch.nonzero(active).flatten().tolist()) - set(top))
    rng = random.Random(f"alignrun-random-features-{seed}-{value.name}")
    chosen_random = rng.sample(pool, min(n_random, len(pool)))
    return FeatureRanking(
        value=value.name,
        top=top,
        scores=[float(mean_d[i]) for i in top],
        random=chosen_random,
        per_material={m: [float(d[i]) for i in top] for m, d in ds.items()},
        sizes={m: len(pos) + len(neg) for m, (pos, neg) in found.items()},
    )


def describe(ranking: FeatureRanking) -> dict[str, Any]:
    return {
        "value": ranking.value,
        "top": ranking.top,
        "scores": ranking.scores,
        "random": ranking.random,
        "per_material": ranking.per_material,
        "sizes": ranking.sizes,
    }

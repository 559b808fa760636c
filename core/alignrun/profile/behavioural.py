"""Behavioural value profiles: what values do the model's answers to open scenarios express?

Each value ``v`` gets a prototype ``p_v``: the normalised mean embedding of its exemplars
(first-person descriptions of behaviour expressing it; the definition when it has none).
An answer ``a`` with unit embedding ``e_a`` gets similarities ``s_v = e_a · p_v``; they are
centred across values (``c_v = s_v - mean_u s_u``, so what every answer shares — being an
answer at all — cancels) and averaged over scenarios. The profile is
``tanh(mean_a c_v(a) / temperature)`` in (-1, 1): above 0, the answers lean to ``v`` more
than to the average value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from alignrun.contracts import Value
from alignrun.embeddings import Embedder


def prototype(texts: Sequence[str], embedder: Embedder) -> torch.Tensor:
    """``[d]``: one value's prototype ``p_v``, the unit-normalised mean embedding of its ``texts``.

    The one definition: :class:`alignrun.derive.scorer.ExemplarScorer` grades answers with it too.
    """
    return torch.nn.functional.normalize(embedder.encode(list(texts)).mean(0), dim=0)


def prototypes(values: Mapping[str, Value], embedder: Embedder) -> torch.Tensor:
    """``[n_values, d]`` unit prototypes in ``values`` order."""
    return torch.stack(
        [prototype(v.exemplars or [v.description or v.name], embedder) for v in values.values()]
    )


def centred_similarities(answers: Sequence[str], protos: torch.Tensor, embedder: Embedder) -> torch.Tensor:
    """``[n_answers, n_values]`` similarities ``e_a · p_v`` centred across values (the rows of
    ``protos``): ``c_v = s_v - mean_u s_u``. The one definition, as :func:`prototype`."""
    sims = embedder.encode(list(answers)) @ protos.T
    return sims - sims.mean(dim=1, keepdim=True)


def profiles_from_answers(
    groups: Sequence[Sequence[str]],
    values: Mapping[str, Value],
    embedder: Embedder,
    temperature: float = 0.03,
) -> list[tuple[dict[str, float], dict[str, list[float]]]]:
    """One behavioural profile per group of answers (e.g. per role), embedded in one pass.

    Each comes with its per-answer centred similarities (value -> one per answer), from which
    the profile's interval is bootstrapped (:meth:`alignrun.profile.ProfileResult.intervals`).
    """
    flat = [a for group in groups for a in group]
    centred = centred_similarities(flat, prototypes(values, embedder), embedder)
    out, start = [], 0
    for group in groups:
        block = centred[start : start + len(group)]
        scores = dict(zip(values, torch.tanh(block.mean(0) / temperature).tolist(), strict=True))
        items = dict(zip(values, block.T.tolist(), strict=True))
        out.append((scores, items))
        start += len(group)
    return out

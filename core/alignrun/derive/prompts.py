"""A value's prompts for derived materials and for evaluation, kept disjoint.

Pool: the value's own ``prompts``, else the prompts of its preference data (``harmless``'s harmful
requests), else the bundled everyday scenarios (open situations whose answers show values). A value
with eval prompts keeps them, and the pool loses any prompt among them; a value without gets
``eval_prompts`` held-out prompts drawn from the pool (seeded), and derives from the rest. Nothing
a method trains or searches on is ever evaluated on.
"""

from __future__ import annotations

import random

from alignrun.contracts import Value
from alignrun.errors import AlignrunError


def split_prompts(value: Value, seed: int, eval_prompts: int) -> tuple[list[str], list[str]]:
    """``(train, eval)`` prompts of ``value``; ``eval`` is its own eval prompts when it has them."""
    from alignrun.profile.schwartz import scenarios

    own = value.prompts or (
        [str(p) for p in value.preference_data["prompt"]] if value.preference_data is not None else None
    )
    pool = list(dict.fromkeys(own or scenarios()))
    if value.eval_prompts:
        held = list(value.eval_prompts)
        return [p for p in pool if p not in set(held)], held
    if len(pool) < 2:
        raise AlignrunError(
            f"value '{value.name}' has {len(pool)} prompt(s) and no eval_prompts: give it eval_prompts "
            "or at least two prompts, so some can be held out"
        )
    order = list(range(len(pool)))
    random.Random(f"alignrun-derive-{seed}-{value.name}-split").shuffle(order)
    k = max(1, min(eval_prompts, len(pool) // 2))
    held_idx = set(order[:k])
    return [p for i, p in enumerate(pool) if i not in held_idx], [
        p for i, p in enumerate(pool) if i in held_idx
    ]

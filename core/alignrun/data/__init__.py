"""``data=``: how much of each value's data a run uses, and where it comes from.

Values carry their own data (``preference_data``, ``eval_prompts``); the ``data`` config
caps it and may swap a value's preference data for another source. The core loop calls
:meth:`DataSpec.prepare` once, so every method sees the same ``run.data``.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from alignrun.errors import AlignrunError

if TYPE_CHECKING:
    from alignrun.contracts import Value

PAIR_COLUMNS = ("prompt", "chosen", "rejected")


@dataclass
class RunData:
    """Per value: training preference pairs (a ``datasets.Dataset``) and held-out eval prompts."""

    pairs: dict[str, Any] = field(default_factory=dict)
    eval_prompts: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class DataSpec:
    """The ``data:`` config node.

    Args:
        max_pairs: cap on training pairs per value (None: all). Subsampled with ``seed``.
        max_eval_prompts: cap on eval prompts per value (None: all); smaller evaluates faster.
        sources: value name -> a preference-pair ``Dataset`` replacing that value's own.
        seed: the subsampling seed.
    """

    max_pairs: int | None = None
    max_eval_prompts: int | None = None
    sources: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 0

    def prepare(self, values: Mapping[str, Value]) -> RunData:
        """Apply sources and caps to every value's data.

        Raises:
            AlignrunError: a source names an unknown value, or pairs lack a required column.
        """
        unknown = sorted(set(self.sources) - set(values))
        if unknown:
            raise AlignrunError(f"data.sources names values not in this run: {', '.join(unknown)}")
        rng = random.Random(self.seed)
        data = RunData()
        for name, value in values.items():
            pairs = self.sources.get(name, value.preference_data)
            if pairs is not None:
                missing = [c for c in PAIR_COLUMNS if c not in pairs.column_names]
                if missing:
                    raise AlignrunError(
                        f"preference data of value '{name}' lacks column(s) {', '.join(missing)}"
                    )
                if len(pairs) == 0:
                    raise AlignrunError(f"preference data of value '{name}' is empty")
                if self.max_pairs is not None and len(pairs) > self.max_pairs:
                    pairs = pairs.select(sorted(rng.sample(range(len(pairs)), self.max_pairs)))
                data.pairs[name] = pairs
            prompts = list(value.eval_prompts or [])
            if self.max_eval_prompts is not None and len(prompts) > self.max_eval_prompts:
                prompts = [prompts[i] for i in sorted(rng.sample(range(len(prompts)), self.max_eval_prompts))]
            data.eval_prompts[name] = prompts
        return data

"""The manipulation check: profile the model plainly and under "you strongly value X", per value and mode.

The measurement, its summary and its table live in :mod:`alignrun.lib.measurement.check`, shared with the
methods that pick a profile mode automatically (``value_graph``, ``prompt_steering``).
"""

from __future__ import annotations

import json

from alignrun.atomic import atomic_write_text
from alignrun.contracts import MethodResult
from alignrun.errors import AlignrunError
from alignrun.lib.measurement.check import render, run_check, summarise
from alignrun.profile import MODES
from alignrun.profile.schwartz import scenarios as bundled_scenarios
from alignrun.profile.schwartz import schwartz_values
from alignrun.run import Run
from alignrun.settings import from_yaml, signature_from


@signature_from("method/manipulation_check.yaml")
class ManipulationCheck:
    """``+method=manipulation_check``.

    Args:
        modes: profile modes to check (``behavioural``, ``logprob``, ``generate``).
        template: the steering system prompt; ``{label}`` and ``{definition}`` are filled in.
        targets: values to tell the model about (default: every value of the value system).
        batch_size: prompts per forward pass / generate call (every condition of a mode shares batches).
    """

    changes_model = False  # measures the model, returns it untouched: no before/after to measure

    def __init__(
        self,
        modes: list[str],
        template: str,
        targets: list[str] | None = from_yaml(),
        batch_size: int = from_yaml(),
    ) -> None:
        unknown = [m for m in modes if m not in MODES]
        if unknown or not modes:
            raise AlignrunError(f"method.modes must be a non-empty subset of {', '.join(MODES)}; got {modes}")
        self.modes = modes
        self.template = template
        self.targets = targets
        self.batch_size = batch_size

    def fit(self, run: Run) -> MethodResult:
        base = run.profiler
        values = base.values if base is not None else schwartz_values()
        scenarios = base.scenarios if base is not None and base.scenarios else bundled_scenarios()
        max_new_tokens = base.max_new_tokens if base is not None else 64
        table = run_check(
            run.lm,
            values,
            scenarios,
            self.modes,
            self.template,
            self.targets,
            self.batch_size,
            max_new_tokens,
        )
        for mode, result in table.items():
            run.log({f"check/{mode}/{t}/relative": r["relative"] for t, r in result["targets"].items()})
        atomic_write_text(run.output_dir / "manipulation_check.json", json.dumps(table, indent=2) + "\n")
        atomic_write_text(run.output_dir / "manipulation_check.md", render(table, len(values)))
        return MethodResult(
            lm=run.lm,
            metrics=summarise(table, len(values)),
            artefacts={"table": "manipulation_check.md", "data": "manipulation_check.json"},
        )

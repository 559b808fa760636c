"""How value graphs and prompt steering measure profiles: the mode (chosen by the manipulation
check unless given), how many scenarios per sample, answer length, batch size.

``mode: auto`` runs :func:`alignrun.lib.measurement.check.run_check` for ``check_modes`` on the model at
hand (no role; every value told in turn) and uses the mode whose told values rank best — the mode
that passes the check (on SmolLM2-135M only the behavioural mode does; docs/architecture.md,
"Measuring values").
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from alignrun.atomic import atomic_write_text
from alignrun.errors import AlignrunError
from alignrun.profile import MODES, ValueProfiler, spread
from alignrun.settings import defaults_from, from_yaml

if TYPE_CHECKING:
    from alignrun.contracts import Value
    from alignrun.lm import LM
    from alignrun.run import Run


def value_system(run: Run) -> tuple[dict[str, Value], list[str]]:
    """The profiled value system and scenarios: the run's ``profile=``, else Schwartz's bundled ones."""
    from alignrun.profile.schwartz import scenarios, schwartz_values

    base = run.profiler
    values = dict(base.values) if base is not None else schwartz_values()
    return values, (base.scenarios if base is not None and base.scenarios else scenarios())


def spread_apart(items: list[str], k: int, *used: int) -> list[str]:
    """``k`` items spread over those not in ``spread(items, u)`` for any ``u`` in ``used`` (or over all).

    E.g. material to find SAE features with, kept apart from the scenarios steering is measured on.
    """
    taken = {x for u in used for x in spread(items, u)}
    return spread([x for x in items if x not in taken] or items, k)


@dataclass
@defaults_from("method/sampling/default.yaml")  # the one home of its defaults
class Sampling:
    """``method.sampling``: how each sample's profile is measured.

    Args:
        mode: ``auto`` (pick by the manipulation check) | ``behavioural`` | ``logprob`` | ``generate``.
        check_modes: the modes ``auto`` compares.
        check_scenarios: scenarios per condition in the check (behavioural): it compares 11
            conditions without roles, so it needs more answers per condition than a sample does.
        check_items: questionnaire items per value in that check (self-report modes; half of each
            polarity): a log-prob item costs a forward pass over the whole prompt, system text included.
        scenarios: scenarios answered per sample (behavioural; spread over the bundled 40).
        items: questionnaire items per value per sample (self-report modes; None: all 12).
        max_new_tokens: answer length (behavioural).
        batch_size: prompts per generate call / forward pass; roles share batches.
    """

    mode: str = from_yaml()
    check_modes: list[str] = from_yaml()
    check_scenarios: int = from_yaml()
    check_items: int | None = from_yaml()
    scenarios: int = from_yaml()
    items: int | None = from_yaml()
    max_new_tokens: int = from_yaml()
    batch_size: int = from_yaml()

    def __post_init__(self) -> None:
        if self.mode != "auto" and self.mode not in MODES:
            raise AlignrunError(f"sampling.mode must be auto or one of {', '.join(MODES)}, got '{self.mode}'")
        if min(self.scenarios, self.check_scenarios, self.max_new_tokens, self.batch_size) < 1:
            raise AlignrunError(
                "sampling.scenarios, check_scenarios, max_new_tokens and batch_size must be positive"
            )

    def resolve_mode(self, run: Run, lm: LM) -> tuple[str, dict[str, float]]:
        """The profile mode to use on ``lm`` (as steered by the caller), and the check's metrics.

        With ``mode: auto`` the check's table is written to ``manipulation_check.md`` in the run dir.
        """
        from alignrun.lib.measurement.check import choose_mode, render, run_check, summarise

        if self.mode != "auto":
            return self.mode, {}
        values, scenarios = value_system(run)
        usable = [
            m for m in self.check_modes if m != "behavioural" or all(v.exemplars for v in values.values())
        ]
        if not usable:
            raise AlignrunError(
                f"sampling.check_modes has no mode usable on this value system: {self.check_modes}"
            )
        table = run_check(
            lm, values, spread(scenarios, self.check_scenarios), usable, batch_size=self.batch_size,
            max_new_tokens=self.max_new_tokens, items=self.check_items,
        )  # fmt: skip
        mode, passed = choose_mode(table, len(values))
        if run.is_main_process:
            atomic_write_text(run.output_dir / "manipulation_check.md", render(table, len(values)))
            atomic_write_text(run.output_dir / "manipulation_check.json", json.dumps(table, indent=2) + "\n")
        return mode, {**summarise(table, len(values)), "check/passed": float(passed)}

    def profiler(self, run: Run, mode: str, scenarios: int | None = None) -> ValueProfiler:
        """A profiler in ``mode`` over the run's value system, ``scenarios`` (or the default) per sample."""
        values, all_scenarios = value_system(run)
        picked = spread(all_scenarios, scenarios or self.scenarios)
        return ValueProfiler(mode, values, picked, self.max_new_tokens, self.batch_size, items=self.items)


def describe(profiler: ValueProfiler) -> dict[str, Any]:
    """What a sample's profile was measured with, for reports and ``graph.json`` meta."""
    return {
        "mode": profiler.mode,
        "scenarios": len(profiler.scenarios) if profiler.mode == "behavioural" else None,
        "max_new_tokens": profiler.max_new_tokens if profiler.mode == "behavioural" else None,
    }

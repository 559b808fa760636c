"""The manipulation check: profile the model plainly and under "you strongly value X", per value and mode.

For each profile mode and each value ``X`` of the value system, the shift of value ``v`` is
``Δ_v = profile_v(told X) - profile_v(plain)``. The check reports the target's shift ``Δ_X``,
its shift relative to the others ``Δ_X - mean_{v≠X} Δ_v``, and the rank of ``Δ_X`` among all
``Δ_v`` (1: the told value moved most). A mode carries signal when targets rank near 1 and
their relative shifts are positive; under pure noise the expected rank is (n + 1) / 2.
"""

from __future__ import annotations

import json
from typing import Any

from alignrun.atomic import atomic_write_text
from alignrun.contracts import MethodResult, Run
from alignrun.errors import AlignrunError
from alignrun.profile import MODES, ValueProfiler
from alignrun.profile.schwartz import scenarios as bundled_scenarios
from alignrun.profile.schwartz import schwartz_values
from alignrun.steering import SystemPrompt


class ManipulationCheck:
    """``+method=manipulation_check``.

    Args:
        modes: profile modes to check (``behavioural``, ``logprob``, ``generate``).
        template: the steering system prompt; ``{label}`` and ``{definition}`` are filled in.
        targets: values to tell the model about (default: every value of the value system).
    """

    def __init__(self, modes: list[str], template: str, targets: list[str] | None = None) -> None:
        unknown = [m for m in modes if m not in MODES]
        if unknown or not modes:
            raise AlignrunError(f"method.modes must be a non-empty subset of {', '.join(MODES)}; got {modes}")
        self.modes = modes
        self.template = template
        self.targets = targets

    def fit(self, run: Run) -> MethodResult:
        base = run.profiler
        values = base.values if base is not None else schwartz_values()
        scenarios = base.scenarios if base is not None and base.scenarios else bundled_scenarios()
        targets = self.targets or list(values)
        missing = [t for t in targets if t not in values]
        if missing:
            raise AlignrunError(f"method.targets not in the profiled value system: {', '.join(missing)}")
        table: dict[str, dict[str, Any]] = {}
        for mode in self.modes:
            profiler = ValueProfiler(mode, values, scenarios)
            plain = profiler.measure(run.lm).scores
            rows: dict[str, dict[str, Any]] = {}
            for target in targets:
                label = target.replace("_", "-")
                prompt = self.template.format(label=label, definition=values[target].description)
                with SystemPrompt(prompt).apply(run.lm) as steered:
                    told = profiler.measure(steered).scores
                shifts = {v: told[v] - plain[v] for v in plain}
                others = [s for v, s in shifts.items() if v != target]
                rows[target] = {
                    "shift": shifts[target],
                    "relative": shifts[target] - sum(others) / len(others),
                    "rank": 1 + sum(s > shifts[target] for s in others),
                    "shifts": shifts,
                }
                run.log({f"check/{mode}/{target}/relative": rows[target]["relative"]})
            table[mode] = {"plain": plain, "targets": rows}
        metrics = summarise(table, len(values))
        atomic_write_text(run.output_dir / "manipulation_check.json", json.dumps(table, indent=2) + "\n")
        atomic_write_text(run.output_dir / "manipulation_check.md", render(table, len(values)))
        return MethodResult(
            lm=run.lm,
            metrics=metrics,
            artefacts={"table": "manipulation_check.md", "data": "manipulation_check.json"},
        )


def summarise(table: dict[str, dict[str, Any]], n_values: int) -> dict[str, float]:
    """Per mode: mean target rank, share of targets moved up relative to the rest, mean relative shift."""
    out = {}
    for mode, result in table.items():
        rows = list(result["targets"].values())
        out[f"check/{mode}/mean_rank"] = sum(r["rank"] for r in rows) / len(rows)
        out[f"check/{mode}/moved_up"] = sum(r["relative"] > 0 for r in rows) / len(rows)
        out[f"check/{mode}/mean_relative_shift"] = sum(r["relative"] for r in rows) / len(rows)
    out["check/chance_rank"] = (n_values + 1) / 2
    return out


def render(table: dict[str, dict[str, Any]], n_values: int) -> str:
    """Markdown: one table per mode, a row per told value."""
    lines = [
        "# Manipulation check",
        "",
        'System prompt "you strongly value X" vs none. Shift = profile(told X) − profile(plain); '
        f"relative = shift − mean shift of the other values; rank of the shift among all {n_values} "
        f"(1 = moved most; chance ≈ {(n_values + 1) / 2:.1f}).",
        "",
    ]
    for mode, result in table.items():
        rows = result["targets"]
        lines += [
            f"## {mode}",
            "",
            "| told value | plain | shift | relative | rank |",
            "|---|---|---|---|---|",
        ]
        for target, r in rows.items():
            lines.append(
                f"| {target} | {result['plain'][target]:+.3f} | {r['shift']:+.3f} | "
                f"{r['relative']:+.3f} | {r['rank']} |"
            )
        mean_rank = sum(r["rank"] for r in rows.values()) / len(rows)
        up = sum(r["relative"] > 0 for r in rows.values())
        lines += ["", f"Mean rank {mean_rank:.1f}; moved up relative to the rest: {up} of {len(rows)}.", ""]
    return "\n".join(lines)

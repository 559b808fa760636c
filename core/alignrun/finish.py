"""The finish of a run, in one place: from the method's outcome and the evaluations to ``results.json``.

The core loop hands over what it measured (the final model's evaluation, the base model's, the
method's outcome); everything after is here, in this order: warnings for results that say nothing,
the candidates' fronts and hypervolume, intervals and paired differences, ``pareto.png``, the judges'
verdicts and their gate, the results dict, and the files. Nothing here trains or generates.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alignrun.breakdown import group_breakdown
from alignrun.degenerate import warn_degenerate
from alignrun.eval_samples import sample_rows
from alignrun.interventions import describe_intervention
from alignrun.judges.report import gate_verdicts, judge_reports, verdicts
from alignrun.results import build_results, finish_candidates, summarise_uncertainty, write_results

if TYPE_CHECKING:
    from alignrun.contracts import Intervention, MethodResult
    from alignrun.evaluation import Evaluation
    from alignrun.run import Run

log = logging.getLogger("alignrun")


@dataclass
class Measured:
    """What the loop measured for one job, handed to :func:`finish_run`.

    Args:
        method: the method's name (``+method=<name>``), as results.json reports it.
        outcome: what the method returned.
        final: the final model's evaluation (``outcome.lm`` under ``applied``).
        base: the untouched model's, when the method may change it (paired comparisons), else None.
        applied: ``(by, intervention)`` in the order the final evaluation applied them.
        timings: seconds per phase so far; the finish adds ``judges`` and ``total``.
        start: ``time.perf_counter()`` when the job started.
        warnings: the run's warnings so far (the list keeps filling until the results are built).
        baselines: other runs' points to overlay on ``pareto.png`` (``results.baselines``).
    """

    method: str
    outcome: MethodResult
    final: Evaluation
    base: Evaluation | None
    applied: list[tuple[str, Intervention]]
    timings: dict[str, float]
    start: float
    warnings: Sequence[str] = ()
    baselines: dict[str, list[dict[str, float]]] = field(default_factory=dict)


def finish_run(run: Run, m: Measured) -> dict[str, Any]:
    """Build the job's results from what was measured, write them (main process only) and return them."""
    outcome, final, base = m.outcome, m.final, m.base
    warn_degenerate(final, base, outcome.candidates)
    names = list(run.values)
    reference = float(run.cfg.results.hypervolume_reference)
    hv = finish_candidates(outcome.candidates, names, reference)
    uncertainty = summarise_uncertainty(final, base, outcome.candidates, names, reference, int(run.cfg.seed))
    if outcome.candidates and run.is_main_process:
        _plot_candidates(run.output_dir, names, outcome, m.baselines)
    run.log({f"eval/{k}": v for k, v in final.scores.items()})
    t = time.perf_counter()
    judge_validity = judge_reports(run)
    checked = verdicts(run)
    gate_verdicts(checked, judge_validity)
    m.timings["judges"] = time.perf_counter() - t
    m.timings["total"] = time.perf_counter() - m.start
    summary = build_results(
        method=m.method,
        model=outcome.lm.name,
        values=names,
        scores=final.scores,
        candidates=outcome.candidates,
        hypervolume=hv,
        value_profile=final.value_profile,
        metrics={
            **outcome.metrics,
            **final.metrics,
            **({f"base/{k}": v for k, v in base.metrics.items()} if base else {}),
        },
        timings=m.timings,
        reused={role: ev.reuse for role, ev in (("base", base), ("final", final)) if ev and ev.reuse},
        derived=run.derived,
        verdicts=checked,
        judges=judge_validity,
        applied=[
            {"by": by, **describe_intervention(i)}
            | ({"replaces_steering": True} if by == "method" and outcome.replaces_steering else {})
            for by, i in m.applied
        ],
        breakdown=group_breakdown(final, run.data.eval_groups, int(run.cfg.seed)),
        uncertainty=uncertainty,
        warnings=m.warnings,
    )
    if run.is_main_process:
        write_results(
            run.output_dir,
            summary,
            reference,
            outcome.artefacts,
            sample_rows(final, base, run.data.eval_groups),
        )
    return summary


def _plot_candidates(
    out: Path, values: list[str], outcome: MethodResult, baselines: dict[str, list[dict[str, float]]]
) -> None:
    """Write ``pareto.png`` and list it among the artefacts; a failed plot only warns.

    The plot comes after all the training and evaluation: a rendering problem must not cost
    the run its ``results.json``.
    """
    from alignrun.plots import plot_pareto

    if len(values) < 2:  # a front over one value is a single best score: nothing to draw
        return
    candidates = [{"scores": c.scores, "pareto": c.pareto} for c in outcome.candidates]
    try:
        plot_pareto(values, candidates, out / "pareto.png", baselines)
    except Exception as exc:
        log.warning("pareto.png not written: %s: %s", type(exc).__name__, exc)
        return
    outcome.artefacts["pareto_plot"] = "pareto.png"

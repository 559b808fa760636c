"""``results.json`` (the contract of DESIGN.md §4) and the run's ``report.md``."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from alignrun.atomic import atomic_write_text
from alignrun.contracts import Candidate
from alignrun.errors import AlignrunError
from alignrun.pareto import hypervolume, pareto_mask

RESULT_KEYS = (
    "method",
    "model",
    "values",
    "scores",
    "candidates",
    "hypervolume",
    "value_profile",
    "metrics",
    "timings",
    "derived",
    "verdicts",
)


def finish_candidates(candidates: list[Candidate], values: Sequence[str], reference: float) -> float | None:
    """Set every candidate's Pareto flag and return the front's hypervolume (None without candidates).

    ``reference`` is the reference point's coordinate for every value (stated in report.md).
    """
    if not candidates:
        return None
    for i, c in enumerate(candidates):
        missing = [v for v in values if v not in c.scores]
        if missing:
            raise AlignrunError(f"candidate {i} (weights {c.weights}) has no score for {', '.join(missing)}")
    points = [[c.scores[v] for v in values] for c in candidates]
    for candidate, on_front in zip(candidates, pareto_mask(points), strict=True):
        candidate.pareto = on_front
    return hypervolume(points, [reference] * len(values))


def build_results(
    *,
    method: str,
    model: str,
    values: Sequence[str],
    scores: dict[str, float],
    candidates: list[Candidate],
    hypervolume: float | None,
    value_profile: dict[str, float] | None,
    metrics: dict[str, float],
    timings: dict[str, float],
    derived: dict[str, dict[str, Any]] | None = None,
    verdicts: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The ``results.json`` dict, keys in contract order.

    ``derived``: per value, what was derived for it (eval prompts, scorer, pairs with their yield);
    ``verdicts``: per value, the judge its training material came from, the scorer that evaluated it
    and whether they are the same (``circular``).
    """
    return {
        "method": method,
        "model": model,
        "values": list(values),
        "scores": {v: float(scores[v]) for v in values if v in scores},
        "candidates": [
            {"weights": c.weights, "scores": c.scores, "pareto": c.pareto, "path": c.path} for c in candidates
        ],
        "hypervolume": hypervolume,
        "value_profile": value_profile,
        "metrics": metrics,
        "timings": timings,
        "derived": {v: rec for v, rec in (derived or {}).items() if rec},
        "verdicts": verdicts or {},
    }


def write_results(
    output_dir: Path, results: dict[str, Any], reference: float, artefacts: dict[str, str] | None = None
) -> None:
    """Write ``results.json`` and ``report.md`` atomically."""
    atomic_write_text(output_dir / "results.json", json.dumps(results, indent=2, allow_nan=False) + "\n")
    atomic_write_text(output_dir / "report.md", render_report(results, reference, artefacts or {}))


def _f(x: float | None) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{x:.4f}"


def _provenance(results: dict[str, Any]) -> list[str]:
    """Report lines: what was derived per value, and which judge trained and which evaluated."""
    derived, verdicts = results.get("derived") or {}, results.get("verdicts") or {}
    if not derived and not any(v.get("judge") for v in verdicts.values()):
        return []
    lines = ["", "## Derived materials and judges", ""]
    for value, rec in derived.items():
        parts = []
        if "eval_prompts" in rec:
            parts.append(f"{rec['eval_prompts']['n']} eval prompts from the {rec['eval_prompts']['from']}")
        if "scorer" in rec:
            parts.append(f"a scorer from its {rec['scorer']['from']}")
        if "pairs" in rec:
            p = rec["pairs"]
            agree = p.get("judge_agreement")
            parts.append(
                f"{p['pairs']} on-policy pairs from {p['prompts']} prompts (yield {p['yield']:.2f}, by "
                f"{p['model']}{', cached' if p['cache_hit'] else ''})"
                + (
                    f", judge agreement {agree['accuracy']:.2f} on {agree['pairs']:.0f} {agree['on']}"
                    if agree
                    else ""
                )
            )
        lines.append(f"- `{value}`: derived " + "; ".join(parts) + ".")
    for value, v in verdicts.items():
        if v.get("judge"):
            judge, evaluator = v["judge"], v["evaluator"]
            verdict = (
                "**circular**: the judge that trained it also scores it, so a gain may be the model "
                "learning the judge"
                if v["circular"]
                else "disjoint judges"
            )
            lines.append(
                f"- `{value}`: trained by {_judge(judge)}, evaluated by {_judge(evaluator)} — {verdict}."
            )
    return lines


def _judge(d: dict[str, Any]) -> str:
    if d.get("kind") == "exemplars":
        return f"an exemplar classifier ({d['exemplars']} exemplars, {d['exemplars_sha']})"
    if d.get("kind") == "PreferenceScorer":
        return f"a `PreferenceScorer` fitted on {d['pairs']} pairs ({d['fit_sha']})"
    return f"`{d.get('kind')}`"


def render_report(results: dict[str, Any], reference: float, artefacts: dict[str, str]) -> str:
    """A short markdown report a person reads first."""
    values = results["values"]
    lines = [
        f"# alignrun: `{results['method']}` on `{results['model']}`",
        "",
        "Scores: higher = more aligned with the value (each value's scorer, on its held-out prompts).",
        "",
        "| value | score |",
        "|---|---|",
        *(f"| {v} | {_f(results['scores'].get(v))} |" for v in values),
    ]
    if results["candidates"]:
        lines += [
            "",
            f"## Candidates ({len(results['candidates'])})",
            "",
            f"Hypervolume of the Pareto front: {_f(results['hypervolume'])} "
            f"(reference point: {reference} for every value).",
            "",
            "| " + " | ".join([*(f"w[{v}]" for v in values), *values, "pareto"]) + " |",
            "|" + "---|" * (2 * len(values) + 1),
        ]
        for c in results["candidates"]:
            cells = [*(_f(c["weights"].get(v)) for v in values), *(_f(c["scores"].get(v)) for v in values)]
            lines.append("| " + " | ".join([*cells, "yes" if c["pareto"] else ""]) + " |")
    lines += _provenance(results)
    if results["value_profile"]:
        lines += ["", "## Value profile", "", "| value | score in [-1, 1] |", "|---|---|"]
        lines += [f"| {k} | {_f(v)} |" for k, v in results["value_profile"].items()]
    for title, table in (("Metrics", results["metrics"]), ("Timings (s)", results["timings"])):
        if table:
            lines += ["", f"## {title}", "", "| name | value |", "|---|---|"]
            lines += [f"| {k} | {_f(v)} |" for k, v in table.items()]
    if artefacts:
        lines += ["", "## Artefacts", ""] + [f"- {k}: `{v}`" for k, v in artefacts.items()]
    return "\n".join(lines) + "\n"

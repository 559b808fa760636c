"""The comparison of a multirun's jobs: scores with intervals, paired differences vs a baseline job
and a plain verdict, side effects on the value profile, fluency and cost.

Read from each job dir on disk (``results.json``, ``samples.jsonl``, ``.hydra/overrides.yaml``), so
it works whichever launcher ran the jobs. Two jobs are compared **per prompt** (a paired bootstrap
of the score differences) when they answered the same prompts, which every job of one sweep on
the same values and data does: pairing removes the prompt-to-prompt spread both share.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from alignrun.atomic import atomic_write_text
from alignrun.fluency import fluency
from alignrun.pareto import pareto_mask
from alignrun.results import difference_record, fmt, fmt_ci
from alignrun.uncertainty import length_controlled, paired_difference

log = logging.getLogger("alignrun")

BASELINE = "none"  # the baseline job's method when the sweep has one
TOKENS_PER_S = "generation/tokens_per_s"


def _job_order(job_dir: Path) -> tuple[bool, int, str]:
    return (not job_dir.name.isdigit(), int(job_dir.name) if job_dir.name.isdigit() else 0, job_dir.name)


def _overrides(job_dir: Path) -> list[str]:
    overrides_file = job_dir / ".hydra" / "overrides.yaml"
    return [str(o) for o in OmegaConf.load(overrides_file)] if overrides_file.is_file() else []


def load_failed(sweep_dir: Path) -> list[dict[str, Any]]:
    """Every job dir of ``sweep_dir`` that a job started in (``.hydra/``) but left without a
    ``results.json``, with the error line it wrote (``error.txt``; None: it was killed)."""
    job_dirs = [p.parent.parent for p in sweep_dir.glob("*/.hydra/overrides.yaml")]
    failed = []
    for job_dir in sorted((d for d in job_dirs if not (d / "results.json").exists()), key=_job_order):
        error = job_dir / "error.txt"
        failed.append(
            {
                "dir": job_dir.name,
                "overrides": _overrides(job_dir),
                "error": error.read_text(encoding="utf-8").strip() if error.is_file() else None,
            }
        )
    return failed


def load_jobs(sweep_dir: Path) -> list[dict[str, Any]]:
    """Every job dir of ``sweep_dir`` holding a ``results.json``, in job number order."""
    job_dirs = [p.parent for p in sweep_dir.glob("*/results.json")]
    jobs = []
    for job_dir in sorted(job_dirs, key=_job_order):
        samples_file = job_dir / "samples.jsonl"
        jobs.append(
            {
                "dir": job_dir.name,
                "overrides": _overrides(job_dir),
                "results": json.loads((job_dir / "results.json").read_text(encoding="utf-8")),
                "samples": [
                    json.loads(line) for line in samples_file.read_text(encoding="utf-8").splitlines()
                ]
                if samples_file.is_file()
                else [],
            }
        )
    return jobs


def _setting(overrides: Sequence[str]) -> set[str]:
    """A job's overrides apart from its method's (seed, values, data, steering)."""
    return {o for o in overrides if not o.lstrip("+~").startswith("method")}


def pick_baseline(
    job: dict[str, Any], jobs: Sequence[dict[str, Any]], baseline: str
) -> dict[str, Any] | None:
    """The job ``job`` is compared with: of the jobs whose method (or dir) is ``baseline``, the one
    sharing most of its other settings (the same seed and values; a steering job's target has no
    counterpart in a ``none`` job), the first on a tie; None for a baseline job itself."""
    pool = [j for j in jobs if baseline in (j["results"]["method"], j["dir"])]
    if not pool or job in pool:
        return None
    mine = _setting(job["overrides"])
    return max(pool, key=lambda j: len(_setting(j["overrides"]) & mine))


def _per_prompt(job: dict[str, Any], value: str) -> tuple[list[str], list[float], list[int] | None]:
    """A job's prompts, scores and answer lengths (None when its samples predate length control)."""
    rows = [r for r in job["samples"] if r["value"] == value and r.get("score") is not None]
    tokens = [r.get("tokens") for r in rows]
    return (
        [r["prompt"] for r in rows],
        [float(r["score"]) for r in rows],
        None if None in tokens else [int(t) for t in tokens if t is not None],
    )


def unmeasured(job: dict[str, Any], value: str) -> str | None:
    """Why ``value``'s evaluator in ``job`` failed the validity gate (results.json ``verdicts``), or None."""
    verdict = (job["results"].get("verdicts") or {}).get(value) or {}
    return verdict.get("unmeasured") if verdict.get("measured") is False else None


def candidate_prompt_sets(job: dict[str, Any]) -> set[tuple[tuple[str, str], ...]]:
    """The prompt sets (value -> set id, results.json) a job's candidates were scored on."""
    return {
        tuple(sorted((c.get("prompt_set") or {}).items())) for c in job["results"].get("candidates") or []
    }


def front_warning(jobs: Sequence[dict[str, Any]]) -> str | None:
    """A warning when jobs' candidate fronts were scored on different prompts (their hypervolumes then
    differ by the prompts as well as by the methods), else None."""
    with_fronts = [j for j in jobs if j["results"].get("candidates")]
    sets = {s for j in with_fronts for s in candidate_prompt_sets(j)}
    if len(with_fronts) < 2 or len(sets) <= 1:
        return None
    unknown = any(not s for s in sets)
    return (
        "the jobs' candidates were scored on different prompt sets"
        + (" (some results predate prompt ids)" if unknown else "")
        + ": their fronts and hypervolumes are not compared here (set the same candidates.eval_prompts)"
    )


def under_length_control(raw: str, controlled: str) -> str | None:
    """How a decided verdict fares with length regressed out: ``reverses``, ``vanishes`` or None (holds)."""
    if raw not in ("better", "worse") or controlled == raw:
        return None
    return "vanishes" if controlled == "not distinguishable" else "reverses"


def versus(job: dict[str, Any], base: dict[str, Any], values: Sequence[str], seed: int) -> dict[str, Any]:
    """Per value, ``job - base`` paired over prompts, or why it cannot be (different prompts); with
    answer lengths in both jobs' samples also the length-controlled difference
    (:func:`~alignrun.uncertainty.length_controlled`) and whether the verdict survives it."""
    out: dict[str, Any] = {}
    for v in values:
        (pa, a, la), (pb, b, lb) = _per_prompt(job, v), _per_prompt(base, v)
        if not a or not b:
            continue
        if pa != pb:
            out[v] = {"difference": None, "ci": None, "verdict": "not paired (different prompts)"}
            continue
        out[v] = difference_record(paired_difference(a, b, seed))
        why = unmeasured(job, v) or unmeasured(base, v)
        if why:  # the gate: a value no judge here can measure gets no better/worse, whatever the numbers
            out[v] |= {"verdict": "unmeasured", "why": why}
            continue
        if la is not None and lb is not None:
            lc = difference_record(length_controlled(a, la, lb, b, seed=seed))
            out[v]["length_controlled"] = lc
            out[v]["under_length_control"] = under_length_control(out[v]["verdict"], lc["verdict"])
    return out


def side_effects(job: dict[str, Any], base: dict[str, Any], targets: Sequence[str]) -> dict[str, Any] | None:
    """The shift of the value profile's non-target values from the baseline job's.

    A shift is *decided* when the two runs' 95% intervals do not overlap: conservative (the
    profile's per-scenario scores are not paired here), so a decided shift is a real one.
    """
    mine, theirs = job["results"].get("value_profile"), base["results"].get("value_profile")
    if not mine or not theirs:
        return None
    ci_a = job["results"].get("value_profile_ci") or {}
    ci_b = base["results"].get("value_profile_ci") or {}
    shifts = {v: mine[v] - theirs[v] for v in mine if v in theirs and v not in targets}
    if not shifts:
        return None
    decided = [
        v for v in shifts if v in ci_a and v in ci_b and (ci_a[v][0] > ci_b[v][1] or ci_a[v][1] < ci_b[v][0])
    ]
    largest = max(shifts, key=lambda v: abs(shifts[v]))
    return {
        "shift": shifts,
        "mean_abs_shift": sum(abs(s) for s in shifts.values()) / len(shifts),
        "largest": {"value": largest, "shift": shifts[largest]},
        "decided": decided,
    }


def cost(results: dict[str, Any]) -> dict[str, Any]:
    """Wall time, trainable model parameters, and generation speed against the unsteered base."""
    metrics = results.get("metrics") or {}
    trainable = sum(
        v for k, v in metrics.items() if k.startswith("train/") and k.endswith("/trainable_params")
    )
    tps, base_tps = metrics.get(TOKENS_PER_S), metrics.get("base/" + TOKENS_PER_S)
    return {
        "wall_s": (results.get("timings") or {}).get("total"),
        "trainable_params": int(trainable),
        "tokens_per_s": tps,
        "tokens_per_s_vs_base": tps / base_tps if tps and base_tps else None,
    }


def compare(jobs: Sequence[dict[str, Any]], baseline: str | None = None, seed: int = 0) -> dict[str, Any]:
    """``summary.json``'s content: one row per job (the scores and intervals, the baseline job it is
    compared with, per value the paired difference and verdict, side effects, fluency, cost)."""
    spec = baseline or (BASELINE if any(j["results"]["method"] == BASELINE for j in jobs) else None)
    common = set.intersection(*(set(j["overrides"]) for j in jobs)) if len(jobs) > 1 else set()
    front = sweep_front(jobs)
    rows = []
    for job in jobs:
        r = job["results"]
        values = list(r.get("values") or r["scores"])
        base = pick_baseline(job, jobs, spec) if spec else None
        normal = base or next((j for j in jobs if spec in (j["results"]["method"], j["dir"])), None)
        varied = [o for o in job["overrides"] if o not in common]  # what tells the jobs apart
        rows.append(
            {
                "dir": job["dir"],
                "overrides": job["overrides"],
                "varied": varied,
                "label": _label(r["method"], varied),
                "method": r["method"],
                "model": r["model"],
                "scores": r["scores"],
                "scores_ci": r.get("scores_ci") or {},
                "hypervolume": r.get("hypervolume"),
                "hypervolume_ci": r.get("hypervolume_ci"),
                "pareto": job["dir"] in front,
                "baseline_job": base["dir"] if base else None,
                "vs_baseline": versus(job, base, values, seed) if base else {},
                "side_effects": side_effects(job, base, values) if base else None,
                "fluency": _fluency(job, normal),
                "cost": cost(r),
                "candidates": [
                    {
                        "scores": c["scores"],
                        "front": c.get("front") or ("front" if c["pareto"] else "dominated"),
                    }
                    for c in r.get("candidates") or []
                ],
            }
        )
    return {
        "baseline": spec,
        "common_overrides": sorted(common),
        "front_warning": front_warning(jobs),
        "jobs": rows,
    }


def sweep_front(jobs: Sequence[dict[str, Any]]) -> set[str]:
    """The dirs of the jobs whose final scores no other job's beat on every value (higher on one, no
    lower on any): the sweep's Pareto set, over the values every job has a score for and no job's
    judge check calls unmeasured."""
    values = (
        [
            v
            for v in jobs[0]["results"]["scores"]
            if all(v in j["results"]["scores"] and not unmeasured(j, v) for j in jobs)
        ]
        if jobs
        else []
    )  # a value no judge measures ranks no job
    if not values:
        return set()
    points = [[float(j["results"]["scores"][v]) for v in values] for j in jobs]
    return {j["dir"] for j, on_front in zip(jobs, pareto_mask(points), strict=True) if on_front}


def _label(method: str, varied: Sequence[str]) -> str:
    """``mva decorrelation=lora_a``: a job's method and its varied settings, without the prefixes."""
    parts = [o.lstrip("+").removeprefix("method=").removeprefix("method.") for o in varied]
    return " ".join(parts) if any(p == method for p in parts) else " ".join([method, *parts])


def write_comparison(sweep_dir: Path, baseline: str | None = None, seed: int = 0) -> dict[str, Any]:
    """Compare every job dir under ``sweep_dir``; write ``summary.json``, ``report.md`` and
    ``comparison.png`` there (the picture only warns when it fails: the tables are written)."""
    comparison = compare(load_jobs(sweep_dir), baseline, seed)
    summary = {
        "sweep_dir": str(sweep_dir),
        "num_jobs": len(comparison["jobs"]),
        **comparison,
        "failed": load_failed(sweep_dir),
    }
    atomic_write_text(sweep_dir / "summary.json", json.dumps(summary, indent=2, allow_nan=False) + "\n")
    atomic_write_text(sweep_dir / "report.md", render(summary))
    if summary["jobs"]:
        try:
            plot(summary, sweep_dir / "comparison.png")
        except Exception as exc:
            log.warning("comparison.png not written: %s: %s", type(exc).__name__, exc)
    return summary


def _fluency(job: dict[str, Any], normal: dict[str, Any] | None) -> float | None:
    answers = [r["answer"] for r in job["samples"]]
    reference = [r["answer"] for r in normal["samples"]] if normal else answers
    return fluency(answers, reference) if answers else None


def render(summary: dict[str, Any]) -> str:
    """The sweep's ``report.md``: scores, verdicts vs the baseline job, side effects, cost."""
    rows = summary["jobs"]
    values = list(dict.fromkeys(v for row in rows for v in row["scores"]))
    spec = summary.get("baseline")
    lines = [
        f"# alignrun sweep: {len(rows)} job(s)",
        "",
        "Scores: higher = more aligned; each with its 95% bootstrap interval over the held-out prompts.",
        "",
        *(
            [f"Every job: `{' '.join(summary['common_overrides'])}`.", ""]
            if summary.get("common_overrides")
            else []
        ),
        "| job | overrides | " + " | ".join(values) + " | hypervolume |",
        "|---|---|" + "---|" * (len(values) + 1),
    ]
    for row in rows:
        cells = [fmt_ci(row["scores"].get(v), row["scores_ci"].get(v)) for v in values]
        hv = fmt_ci(row["hypervolume"], row["hypervolume_ci"])
        hv += (
            " (other prompts: not comparable)" if summary.get("front_warning") and row["hypervolume"] else ""
        )
        lines.append(f"| {row['dir']} | `{' '.join(row['varied'])}` | " + " | ".join(cells) + f" | {hv} |")
    if summary.get("front_warning"):
        lines += ["", f"**Warning**: {summary['front_warning']}."]
    front = [row for row in rows if row.get("pareto")]
    if len(rows) > 1 and front:
        lines += [
            "",
            "Pareto set of the point scores (no other job scores at least as high on every value and "
            "higher on one; where the intervals above overlap, a job's place on it is inside the noise): "
            + "; ".join(f"job {row['dir']} (`{row['label']}`)" for row in front)
            + ".",
        ]
    compared = [row for row in rows if row["baseline_job"] is not None]
    if compared:
        lines += [
            "",
            f"## Versus the baseline (`{spec}`)",
            "",
            "Each job minus its baseline job (the one with the same other settings), paired over prompts: "
            "the interval of the mean per-prompt difference from a bootstrap that resamples prompts. "
            "*better* / *worse*: the interval excludes 0; otherwise the difference is within the noise. "
            "† marks a decided verdict that reverses or vanishes when each prompt's difference is regressed "
            "on the answers' length difference and read at equal length (the verdict may be length).",
            "",
            "| job | method and settings | vs job | " + " | ".join(values) + " |",
            "|---|---|---|" + "---|" * len(values),
        ]
        for row in compared:
            cells = []
            for v in values:
                d = row["vs_baseline"].get(v)
                change = d and d.get("under_length_control")
                cells.append(
                    f"{fmt_ci(d['difference'], d['ci'])} **{d['verdict']}**"
                    + (f" (†{change} under length control)" if change else "")
                    if d
                    else "–"
                )
            lines.append(
                f"| {row['dir']} | {row['label']} | {row['baseline_job']} | " + " | ".join(cells) + " |"
            )
    lines += [
        "",
        "## Side effects, fluency, cost",
        "",
        "Profile shift: the value profile's non-target values minus the baseline job's (mean |shift|, the "
        "largest, and how many are decided: the two intervals do not overlap). Fluency: distinct word "
        "bigrams × answer length relative to the baseline's. Speed: answer tokens/s of the final "
        "evaluation, and its ratio to the unsteered base model's in the same job.",
        "",
        "| job | method and settings | profile shift | fluency | wall time (s) | trainable params "
        "| tokens/s (× base) |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        se, c = row["side_effects"], row["cost"]
        shift = (
            f"{se['mean_abs_shift']:.3f}; {se['largest']['value']} {se['largest']['shift']:+.3f}; "
            f"{len(se['decided'])}/{len(se['shift'])} decided"
            if se
            else "–"
        )
        speed = fmt(c["tokens_per_s"], 1) + (
            f" (×{c['tokens_per_s_vs_base']:.2f})" if c["tokens_per_s_vs_base"] else ""
        )
        lines.append(
            f"| {row['dir']} | {row['label']} | {shift} | {fmt(row['fluency'], 3)} "
            f"| {fmt(c['wall_s'], 1)} | {c['trainable_params']:,} | {speed} |"
        )
    lines += ["", "## Verdict", "", *verdict_lines(summary)]
    if summary.get("failed"):
        lines += ["", "## Failed jobs", "", "Started but wrote no results.json; not compared above.", ""]
        lines += [
            f"- job {f['dir']} (`{' '.join(f['overrides'])}`): {f['error'] or 'no error line (killed?)'}"
            for f in summary["failed"]
        ]
    return "\n".join(lines) + "\n"


def verdict_lines(summary: dict[str, Any]) -> list[str]:
    """One plain sentence per compared job."""
    spec = summary.get("baseline")
    if spec is None:
        return [
            "No baseline job (no `none` job in the sweep): add `+method=none` to the sweep or set "
            "`hydra.callbacks.sweep_summary.baseline=<method or job>` to get verdicts."
        ]
    out = []
    for row in summary["jobs"]:
        if row["baseline_job"] is None:
            continue
        said = [
            f"{v} {d['verdict']}"
            + (f" ({d['difference']:+.3f})" if d["verdict"] in ("better", "worse") else "")
            + (f" — no verdict: {d['why']}" if d["verdict"] == "unmeasured" else "")
            + (
                f", which {d['under_length_control']} under length control"
                if d.get("under_length_control")
                else ""
            )
            for v, d in row["vs_baseline"].items()
        ]
        out.append(
            f"- job {row['dir']} (`{row['label']}`) vs job {row['baseline_job']}: " + "; ".join(said) + "."
        )
    return out or [f"Only `{spec}` jobs: nothing to compare."]


MARKERS = "osD^vP<>Xp"


def plot_keys(rows: Sequence[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """Per job: its method and settings without the seed (one colour each), and its seed (one marker each).

    Repeats of a method over seeds share a colour, so a 24-job sweep of 8 methods x 3 seeds reads as
    8 groups of 3 rather than 24 colours cycling through a 10-colour palette.
    """
    groups, seeds = [], []
    for row in rows:
        parts = row["label"].split(" ")
        groups.append(" ".join(p for p in parts if not p.startswith("seed=")) or row["label"])
        seeds.append(next((p for p in parts if p.startswith("seed=")), ""))
    return groups, seeds


def plot(summary: dict[str, Any], path: Path) -> None:
    """``comparison.png``: per value, each job's score with its interval; beside it, when jobs have
    candidates and there are two or more values, their fronts over the first two values overlaid.
    A colour is a method with its settings, a marker a seed (when seeds vary)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from alignrun.plots import AXIS_LABEL, save_figure

    rows = summary["jobs"]
    values = list(dict.fromkeys(v for row in rows for v in row["scores"]))
    fronts = len(values) >= 2 and any(row["candidates"] for row in rows)
    groups, seeds = plot_keys(rows)
    palette = plt.get_cmap("tab10" if len(set(groups)) <= 10 else "tab20")
    colour = {g: palette(i % palette.N) for i, g in enumerate(dict.fromkeys(groups))}
    marker = {s: MARKERS[i % len(MARKERS)] for i, s in enumerate(dict.fromkeys(seeds))}
    width = 2.0 + 1.3 * len(values) + 0.15 * len(rows)
    fig, axes = plt.subplots(
        1,
        2 if fronts else 1,
        figsize=(width + (4.5 if fronts else 0), 4.0 + 0.2 * ((len(colour) + len(marker) + 1) // 2)),
        squeeze=False,
    )
    ax = axes[0][0]
    step = 0.8 / max(len(rows), 1)
    order = sorted(range(len(rows)), key=lambda i: (list(colour).index(groups[i]), seeds[i]))
    for slot, i in enumerate(order):  # a method's seeds side by side
        row = rows[i]
        xs, ys, lo, hi = [], [], [], []
        for j, v in enumerate(values):
            if v not in row["scores"]:
                continue
            s = row["scores"][v]
            ci = row["scores_ci"].get(v) or [s, s]
            xs.append(j - 0.4 + step * (slot + 0.5))
            ys.append(s)
            lo.append(s - ci[0])
            hi.append(ci[1] - s)
        ax.errorbar(xs, ys, yerr=[lo, hi], fmt=marker[seeds[i]], capsize=2, color=colour[groups[i]])
    ax.set_xticks(range(len(values)), values)
    ax.set_xlim(-0.5, len(values) - 0.5)
    ax.set_ylabel("score ± 95% interval (higher = more aligned)")
    ax.axhline(0, color="black", linewidth=0.5)
    keys: list[tuple[str, Any, str]] = [(g, c, "o") for g, c in colour.items()]
    if len(marker) > 1:
        keys += [(s, "black", m) for s, m in marker.items()]  # not a colour any job has
    handles = [plt.Line2D([], [], color=c, marker=m, linestyle="", label=k) for k, c, m in keys]
    # below the axes: inside, it hides the intervals it labels
    ax.legend(
        handles=handles, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2, frameon=False
    )
    if fronts:
        fx = axes[0][1]
        xv, yv = values[0], values[1]
        for i, row in enumerate(rows):
            c, m = colour[groups[i]], marker[seeds[i]]
            pts = [k["scores"] for k in row["candidates"] if xv in k["scores"] and yv in k["scores"]]
            front = sorted(
                (k["scores"][xv], k["scores"][yv]) for k in row["candidates"] if k["front"] == "front"
            )
            if pts:
                fx.scatter([p[xv] for p in pts], [p[yv] for p in pts], s=12, alpha=0.35, color=c, marker=m)
            if front:
                fx.plot(*zip(*front, strict=True), "-", marker=m, markersize=4, color=c, alpha=0.8)
            if xv in row["scores"] and yv in row["scores"]:  # the job's final model, with its intervals
                cx, cy = row["scores_ci"].get(xv), row["scores_ci"].get(yv)
                sx, sy = row["scores"][xv], row["scores"][yv]
                fx.errorbar(
                    [sx],
                    [sy],
                    xerr=[[sx - cx[0]], [cx[1] - sx]] if cx else None,
                    yerr=[[sy - cy[0]], [cy[1] - sy]] if cy else None,
                    fmt="*",
                    markersize=10,
                    capsize=2,
                    color=c,
                )
        fx.set_xlabel(AXIS_LABEL.format(xv))
        fx.set_ylabel(AXIS_LABEL.format(yv))
        fx.set_title("candidates, fronts (lines) and final models (★); colours as left", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)

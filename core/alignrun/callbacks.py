"""Hydra callback: after a multirun, one summary of every job in the sweep dir.

It reads each job's ``results.json`` and ``.hydra/overrides.yaml`` from disk rather than
remembering jobs in memory, so it works with launchers that run jobs in other processes.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from alignrun.atomic import atomic_write_text

log = logging.getLogger("alignrun")


def collect_jobs(sweep_dir: Path) -> list[dict[str, Any]]:
    """One row per job dir of ``sweep_dir`` holding a ``results.json`` (job number order)."""
    rows = []
    job_dirs = [p.parent for p in sweep_dir.glob("*/results.json")]
    for job_dir in sorted(
        job_dirs, key=lambda p: (not p.name.isdigit(), int(p.name) if p.name.isdigit() else 0, p.name)
    ):
        results = json.loads((job_dir / "results.json").read_text(encoding="utf-8"))
        overrides_file = job_dir / ".hydra" / "overrides.yaml"
        overrides = list(OmegaConf.load(overrides_file)) if overrides_file.is_file() else []
        rows.append(
            {
                "dir": job_dir.name,
                "overrides": [str(o) for o in overrides],
                "method": results["method"],
                "model": results["model"],
                "scores": results["scores"],
                "hypervolume": results["hypervolume"],
            }
        )
    return rows


def render_summary(rows: list[dict[str, Any]]) -> str:
    values = list(dict.fromkeys(v for row in rows for v in row["scores"]))
    lines = [
        f"# alignrun sweep: {len(rows)} job(s)",
        "",
        "| job | overrides | " + " | ".join(values) + " | hypervolume |",
        "|---|---|" + "---|" * (len(values) + 1),
    ]
    for row in rows:
        cells = [f"{row['scores'][v]:.4f}" if v in row["scores"] else "–" for v in values]
        hv = "–" if row["hypervolume"] is None else f"{row['hypervolume']:.4f}"
        lines.append(f"| {row['dir']} | `{' '.join(row['overrides'])}` | " + " | ".join(cells) + f" | {hv} |")
    return "\n".join(lines) + "\n"


def plot_summary(rows: list[dict[str, Any]], path: Path) -> None:
    """Grouped bars: one group per value, one bar per job; plus each job's hypervolume when any has one.

    Job ``i`` has colour ``C{i}`` in both panels, so the one legend serves both.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from alignrun.plots import save_figure

    values = list(dict.fromkeys(v for row in rows for v in row["scores"]))
    width = 0.8 / max(len(rows), 1)
    with_hv = any(row["hypervolume"] is not None for row in rows)
    score_width = 1.5 + 1.2 * len(values) + 0.2 * len(rows)
    if with_hv:
        hv_width = 1.0 + 0.45 * len(rows)
        fig, (ax, hv_ax) = plt.subplots(
            1, 2, figsize=(score_width + hv_width, 3.5), gridspec_kw={"width_ratios": [score_width, hv_width]}
        )
    else:
        fig, ax = plt.subplots(figsize=(score_width, 3.5))
    for i, row in enumerate(rows):
        xs = [j + i * width for j in range(len(values))]
        ax.bar(
            xs,
            [row["scores"].get(v, 0.0) for v in values],
            width,
            color=f"C{i % 10}",
            label=f"{row['dir']}: {' '.join(row['overrides'])}"[:60],
        )
    ax.set_xticks([j + width * (len(rows) - 1) / 2 for j in range(len(values))], values)
    ax.set_ylabel("score (higher = more aligned)")
    ax.axhline(0, color="black", linewidth=0.5)
    ax.legend(fontsize=7, loc="best")
    if with_hv:
        for i, row in enumerate(rows):
            if row["hypervolume"] is None:  # a job without candidates: say so rather than draw a 0
                hv_ax.text(i, 0, "n/a", ha="center", va="bottom", fontsize=7)
            else:
                hv_ax.bar(i, row["hypervolume"], 0.8, color=f"C{i % 10}")
        hv_ax.set_xticks(range(len(rows)), [row["dir"] for row in rows], fontsize=7)
        hv_ax.set_xlabel("job")
        hv_ax.set_ylabel("hypervolume of the candidates' front")
    fig.tight_layout()
    save_figure(fig, path)


class SweepSummary(Callback):
    """Writes ``summary.json``, ``report.md`` and ``summary.png`` into the sweep dir."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        rows = collect_jobs(sweep_dir)
        summary = {"sweep_dir": str(sweep_dir), "num_jobs": len(rows), "jobs": rows}
        atomic_write_text(sweep_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
        atomic_write_text(sweep_dir / "report.md", render_summary(rows))
        if rows:
            plot_summary(rows, sweep_dir / "summary.png")
        log.info("sweep summary: %s", sweep_dir / "summary.json")

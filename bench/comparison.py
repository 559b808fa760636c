"""The decisive experiment: every method on two values at one per-value budget, several seeds, one report.

    HF_HUB_OFFLINE=1 python bench/comparison.py [--seeds 0 1 2] [--out multirun/comparison]

Runs, per seed, on the embedded default (SmolLM2-135M-Instruct) with ``values=[helpful,harmless]``:
``none``; ``dpo`` soup; ``mva`` with ``decorrelation=delta_w``, ``lora_a`` and ``none``; ``mod``
(decoding-time composition of the same seed's soup adapters: run the soup first); ``conditioned``
(one preference-conditioned adapter); ``rlhf``;
``prompt_steering`` and ``sae_steering`` towards ``--target``. The training methods get the same
per-value budget, ``--steps`` DPO steps of 8 pairs (RLHF keeps its default 8 rollout rounds, 32 PPO
steps over both values). Each job is its own run dir ``<out>/s<seed>-<method>`` (a finished one is skipped, so
the script resumes), and :func:`alignrun.sweep_report.write_comparison` writes the sweep report,
``comparison.png`` and ``summary.json`` over all of them: each job against the ``none`` job of its
seed, paired over prompts. Then this script prints, per method, the verdicts across seeds and the
hypervolumes of MVA, MOD and the conditioned model minus the soup's, paired by seed, as each run
scored its candidates and on the prompts they share (:func:`same_prompt_hypervolume`), and draws
``same_prompt_fronts.png``. ``--report-only`` runs nothing and reports the finished jobs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from alignrun.pareto import hypervolume, pareto_mask
from alignrun.sweep_report import write_comparison
from alignrun.uncertainty import t_interval

METHODS = {
    "none": ["+method=none"],
    "dpo soup": ["+method=dpo", "method.variant=soup", "method.soup_step=0.25"],
    "mva delta_w": ["+method=mva", "method.decorrelation=delta_w"],
    "mva lora_a": ["+method=mva", "method.decorrelation=lora_a"],
    "mva none": ["+method=mva", "method.decorrelation=none"],
    # candidates on every held-out prompt, as the soup's (MVA keeps its default, the first 24 per value)
    "mod": ["+method=mod", "method.weight_step=0.25", "method.eval_prompts=null"],
    "conditioned": ["+method=conditioned", "method.weight_step=0.25", "method.eval_prompts=null"],
    "rlhf": ["+method=rlhf"],
    "prompt_steering": ["+method=prompt_steering"],
    "sae_steering": ["+method=sae_steering"],
}
VALUES = ["helpful", "harmless"]
TRAINED = ("dpo soup", "mva delta_w", "mva lora_a", "mva none", "mod", "conditioned")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--target", default="harmless", help="the steering methods' steering.target")
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument("--out", type=Path, default=Path("multirun/comparison"))
    parser.add_argument("--report-only", action="store_true", help="run nothing: report the finished jobs")
    args = parser.parse_args()
    for seed in [] if args.report_only else args.seeds:
        for label in args.methods:
            overrides = [*METHODS[label], f"values=[{','.join(VALUES)}]", f"seed={seed}"]
            if label in TRAINED:
                overrides.append(f"method.train.steps={args.steps}")
            if "steering" in label:
                overrides.append(f"steering.target={args.target}")
            if label == "mod":  # MOD composes the soup's own adapters: merging in weights vs at decoding
                soup = (args.out / f"s{seed}-dpo-soup" / "adapters").resolve()
                overrides += [f"+method.adapters.{v}={soup / v}" for v in VALUES]
            run_dir = args.out / f"s{seed}-{label.replace(' ', '-')}"  # stable: --methods may be a subset
            if (run_dir / "results.json").exists():
                continue
            cmd = [
                sys.executable,
                "-m",
                "alignrun",
                *overrides,
                f"hydra.run.dir={run_dir}",
                "generation.progress=false",
            ]
            print(f"$ {' '.join(cmd[2:])}   (load {os.getloadavg()[0]:.2f})", flush=True)
            start = time.perf_counter()
            subprocess.run(cmd, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
            print(f"  {label} seed {seed}: {time.perf_counter() - start:.0f} s", flush=True)
    summary = write_comparison(args.out)
    print(f"report: {args.out / 'report.md'}\n")
    by_label: dict[str, list[dict[str, Any]]] = {}
    for job in summary["jobs"]:
        by_label.setdefault(label_of(job), []).append(job)
    values = VALUES
    print("| method | seeds | " + " | ".join(f"{v}: change vs none (verdicts)" for v in values)
          + " | hypervolume | wall time (s) |")  # fmt: skip
    print("|---|---|" + "---|" * len(values) + "---|---|")
    for label, jobs in by_label.items():
        cells = []
        for v in values:
            ds = [j["vs_baseline"].get(v) for j in jobs if j["vs_baseline"].get(v)]
            if not ds:
                cells.append("–")
                continue
            mean = statistics.mean(d["difference"] for d in ds)
            verdicts = ", ".join(d["verdict"] for d in ds)
            cells.append(f"{mean:+.3f} ({verdicts})")
        hvs = [j["hypervolume"] for j in jobs if j["hypervolume"] is not None]
        hv = f"{statistics.mean(hvs):.3f} ± {statistics.stdev(hvs):.3f}" if len(hvs) > 1 else (
            f"{hvs[0]:.3f}" if hvs else "–")  # fmt: skip
        wall = statistics.mean(j["cost"]["wall_s"] for j in jobs)
        print(f"| {label} | {len(jobs)} | " + " | ".join(cells) + f" | {hv} | {wall:.0f} |")
    base = {_seed(j): _results(args.out, j)["scores"] for j in by_label.get("none", [])}
    print("\nhypervolume as each job scored its candidates, then 'same-prompt': every candidate moved onto "
          "all prompts (the none job's scores plus its paired difference from the base)")  # fmt: skip
    measures: dict[str, Callable[[dict[str, Any]], float]] = {
        "hypervolume": lambda j: float(j["hypervolume"]),
        "same-prompt hypervolume": lambda j: same_prompt_hypervolume(args.out / j["dir"], base[_seed(j)]),
    }
    for name, measure in measures.items():
        per_seed = {
            label: {_seed(j): measure(j) for j in by_label[label]} for label in TRAINED if label in by_label
        }
        for label, mine in per_seed.items():
            print(f"{label} {name} per seed: " + ", ".join(f"{s} {h:.3f}" for s, h in sorted(mine.items())))
        soup = per_seed.get("dpo soup", {})
        for label, mine in per_seed.items():
            seeds = sorted(set(soup) & set(mine))
            if label != "dpo soup" and len(seeds) >= 2:  # with 3 seeds a bootstrap has 10 distinct resamples
                mean, lo, hi = t_interval([mine[s] - soup[s] for s in seeds])
                verdict = "better" if lo > 0 else "worse" if hi < 0 else "not distinguishable"
                print(f"{label} - dpo soup {name}, paired by seed ({len(seeds)} seeds): "
                      f"{mean:+.3f} [{lo:+.3f}, {hi:+.3f}] (95% t-interval) {verdict}")  # fmt: skip
    if base:
        print(f"picture: {plot_same_prompt(args.out, by_label, base)}")
    print(json.dumps({"load": os.getloadavg()[0]}))


def same_prompt_hypervolume(job_dir: Path, base: dict[str, float]) -> float:
    """The job's candidates' hypervolume with each point moved onto the prompts every job shares.

    MVA scores its candidates on the first ``eval_prompts`` prompts per value, the soup, MOD and the
    conditioned model on all of them, and the base does not score the same on both sets. Each point
    becomes ``base (all prompts) + (candidate - base) on the candidate's prompts``: the paired
    difference each candidate's ``vs_base`` holds. On all prompts this is the candidate's own score.
    """
    reference = float(OmegaConf.load(job_dir / ".hydra" / "config.yaml").results.hypervolume_reference)
    return hypervolume(same_prompt_points(job_dir, base), [reference] * len(VALUES))


def same_prompt_points(job_dir: Path, base: dict[str, float]) -> list[list[float]]:
    """The job's candidates as ``base (all prompts) + paired difference``, one point per candidate."""
    candidates = json.loads((job_dir / "results.json").read_text())["candidates"]
    return [[base[v] + c["vs_base"][v]["difference"] for v in VALUES] for c in candidates]


def plot_same_prompt(out: Path, by_label: dict[str, list[dict[str, Any]]], base: dict[str, Any]) -> Path:
    """``same_prompt_fronts.png``: every trained method's candidates on the shared prompts, its front
    per seed (a line; one marker per seed), the base (black cross)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from alignrun.plots import AXIS_LABEL, save_figure

    fig, ax = plt.subplots(figsize=(7.5, 5.5))
    seeds = sorted(base)
    for i, label in enumerate(m for m in TRAINED if m in by_label):
        for job in by_label[label]:
            seed = _seed(job)
            points = same_prompt_points(out / job["dir"], base[seed])
            marker = "osD^v"[seeds.index(seed) % 5]
            front = sorted(tuple(p) for p, keep in zip(points, pareto_mask(points), strict=True) if keep)
            ax.scatter(
                [p[0] for p in points], [p[1] for p in points], s=14, alpha=0.3, color=f"C{i}", marker=marker
            )
            ax.plot(*zip(*front, strict=True), "-", marker=marker, markersize=4, color=f"C{i}", alpha=0.8,
                    label=f"{label} {seed}")  # fmt: skip
    for seed in seeds[:1]:  # the base answers greedily: the same on every seed
        ax.plot(*(base[seed][v] for v in VALUES), "kx", markersize=9, label="base (none)")
    ax.set_xlabel(AXIS_LABEL.format(VALUES[0]))
    ax.set_ylabel(AXIS_LABEL.format(VALUES[1]))
    ax.set_title("candidates on all held-out prompts (MVA's moved by its paired differences)", fontsize=9)
    ax.legend(fontsize=7, ncol=2, frameon=False)
    fig.tight_layout()
    path = out / "same_prompt_fronts.png"
    save_figure(fig, path)
    return path


def _results(out: Path, job: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads((out / job["dir"] / "results.json").read_text()))


def _seed(job: dict[str, Any]) -> str:
    return next(o for o in job["overrides"] if o.startswith("seed="))


def label_of(job: dict[str, Any]) -> str:
    """The METHODS key a job ran."""
    if job["method"] == "mva":
        return (
            "mva " + next(o for o in job["overrides"] if o.startswith("method.decorrelation=")).split("=")[1]
        )
    return "dpo soup" if job["method"] == "dpo" else str(job["method"])


if __name__ == "__main__":
    main()

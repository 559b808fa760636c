"""MVA's claim, tested as its authors ran it (issue 34): one job per (alpha, seed), numbers kept as they land.

    HF_HUB_OFFLINE=1 python bench/mva_reproduction.py run [--alphas 0 10 100 1000] [--seeds 0 1 2 3 4]
    python bench/mva_reproduction.py report          # the tables of docs/comparison.md, from the data file

The claim, stated before any job ran: on the same candidate grid and the same prompts,
``hypervolume(alpha > 0) - hypervolume(alpha = 0) > 0``, paired by seed. ``alpha = 0`` trains exactly the
soup's value vectors (the penalty is computed, weighted 0: tests/recipes/test_mva.py), so it is the
baseline for "decorrelation helps" with "where the candidates sit" held fixed (``candidates.grid``).

Each job is ``alignrun experiment=mva_authors method.alpha=<a> seed=<s>`` in its own run dir under
``--out`` (kept: a finished job is never rerun, a stopped one resumes from its last finished value).
When it finishes, its numbers go into ``bench/results/mva_reproduction.json`` at once (written whole,
atomically): the hypervolume with its interval, every candidate's scores, the additivity residuals of
the (1,1) mix, the penalty-acted evidence (how far A moved, the penalty before and after), wall time,
the machine's load and whether its CPU computes bf16 natively. An experiment longer than a session
goes on where it stopped. Jobs run one at a time: two torch processes on two cores thrash.

Helpful trains first, with nothing to decorrelate against, so its vector is the same in every arm of a
seed: after a seed's first job, the others load it (``method.vectors.helpful``) and train only
harmless — exactly as if helpful had trained in the job (each step's batch and dropout draws depend
on the seed and the step alone: tests/unit/lib/training/test_phases.py), in ~half the wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from alignrun.atomic import atomic_write_text
from alignrun.uncertainty import t_interval

DATA = Path(__file__).parent / "results" / "mva_reproduction.json"
VALUES = ["helpful", "harmless"]
PROTOCOL = {
    "claim": "hypervolume(alpha > 0) - hypervolume(alpha = 0) > 0, paired by seed, same grid and prompts",
    "command": "alignrun experiment=mva_authors method.alpha=<alpha> seed=<seed> generation.progress=false",
    "grid": "candidates.grid=[0,0.5,1]: 9 mixes of the helpful and harmless vectors, the same for every arm",
    "judges": "judge=crossfit (the default): the evaluator judges, fitted apart from the training pairs",
}


def job_key(alpha: float, seed: int) -> str:
    return f"alpha={alpha:g},seed={seed}"


def bf16_native() -> bool:
    """Whether this CPU computes bf16 in hardware (AVX512-BF16 or AMX): timings differ by ~4x."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def load() -> dict[str, Any]:
    if DATA.exists():
        return dict(json.loads(DATA.read_text()))
    return {"protocol": PROTOCOL, "jobs": {}}


def record(run_dir: Path, wall_s: float, load_avg: tuple[float, float]) -> dict[str, Any]:
    """One finished job's numbers, from its results.json."""
    results = json.loads((run_dir / "results.json").read_text())
    metrics = results["metrics"]
    keep = ("mva/additivity/", "mva/a_moved/", "mva/delta_w_norm/", "mva/penalty_", "mva/hsic_")
    return {
        "hypervolume": results["hypervolume"],
        "hypervolume_ci": results.get("hypervolume_ci"),
        "scores": results["scores"],
        "candidates": [
            {"weights": c["weights"], "scores": c["scores"], "pareto": c["pareto"]}
            for c in results["candidates"]
        ],
        "metrics": {k: v for k, v in sorted(metrics.items()) if k.startswith(keep)},
        "decorrelation_last_step": {k: v for k, v in metrics.items() if k.endswith("/decorrelation")},
        "wall_s": round(wall_s),
        "load": {"before": round(load_avg[0], 2), "after": round(load_avg[1], 2)},
        "bf16_native": bf16_native(),
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip(),
    }


def run_dir_of(out: Path, key: str) -> Path:
    return out / key.replace(",", "_").replace("=", "")


def first_vector(data: dict[str, Any], out: Path, seed: int) -> Path | None:
    """The first value's trained vector from a finished job of this seed, if one is on disk."""
    for key, job in data["jobs"].items():
        folder = run_dir_of(out, key) / "adapters" / VALUES[0]
        if key.endswith(f",seed={seed}") and not job.get("vectors_from") and folder.is_dir():
            return folder.resolve()
    return None


def run(alphas: list[float], seeds: list[int], out: Path, extra: list[str]) -> None:
    data = load()
    for seed in seeds:  # seed-major: the first seeds of every arm land before any arm's fifth
        for alpha in alphas:
            key = job_key(alpha, seed)
            if key in data["jobs"]:
                continue
            run_dir = run_dir_of(out, key)
            given = first_vector(data, out, seed)
            overrides = [
                f"method.alpha={alpha:g}",
                f"seed={seed}",
                f"hydra.run.dir={run_dir}",
                "generation.progress=false",
            ]
            if given is not None:
                overrides.append(f"+method.vectors.{VALUES[0]}={given}")  # + : vectors is {} in the YAML
            if (
                run_dir / ".hydra" / "config.yaml"
            ).exists():  # started, then stopped: go on from its checkpoints
                overrides.append("resume=true")
            cmd = [sys.executable, "-m", "alignrun", "experiment=mva_authors", *overrides, *extra]
            before = os.getloadavg()[0]
            print(f"$ {' '.join(cmd[2:])}   (load {before:.2f})", flush=True)
            start = time.perf_counter()
            if not (run_dir / "results.json").exists():
                subprocess.run(cmd, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
            data["jobs"][key] = record(run_dir, time.perf_counter() - start, (before, os.getloadavg()[0]))
            data["jobs"][key]["vectors_from"] = str(given.relative_to(out.resolve())) if given else None
            DATA.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(DATA, json.dumps(data, indent=1) + "\n")
            print(f"  {key}: hypervolume {data['jobs'][key]['hypervolume']:.3f}", flush=True)


def report(data: dict[str, Any]) -> str:
    """Markdown: per-seed hypervolumes, the paired differences against alpha 0, the additivity
    residuals and the penalty-acted evidence, from whatever jobs have landed."""
    jobs = data["jobs"]
    if not jobs:
        return "No job has finished yet.\n"
    by = {(float(k.split(",")[0][6:]), int(k.split(",")[1][5:])): j for k, j in jobs.items()}
    alphas, seeds = sorted({a for a, _ in by}), sorted({s for _, s in by})
    lines = ["| alpha | " + " | ".join(f"seed {s}" for s in seeds) + " | wall time per seed (min) |",
             "|---|" + "---|" * len(seeds) + "---|"]  # fmt: skip
    for a in alphas:
        cells = []
        for s in seeds:
            j = by.get((a, s))
            cells.append("–" if j is None else f"{j['hypervolume']:.3f} [{j['hypervolume_ci'][0]:.3f}, "
                          f"{j['hypervolume_ci'][1]:.3f}]")  # fmt: skip
        walls = [f"{by[(a, s)]['wall_s'] / 60:.0f}{'*' if by[(a, s)].get('vectors_from') else ''}"
                 for s in seeds if (a, s) in by]  # fmt: skip
        lines.append(f"| {a:g} | " + " | ".join(cells) + f" | {', '.join(walls)} |")
    lines += ["", "| alpha | hypervolume − alpha 0, paired by seed | seeds | verdict |", "|---|---|---|---|"]
    for a in alphas[1:] if alphas and alphas[0] == 0 else []:
        paired = [
            by[(a, s)]["hypervolume"] - by[(0.0, s)]["hypervolume"]
            for s in seeds
            if (a, s) in by and (0.0, s) in by
        ]
        if len(paired) < 2:
            lines.append(
                f"| {a:g} | {paired[0]:+.3f} (one seed: no interval) | 1 | – |"
                if paired
                else f"| {a:g} | – | 0 | – |"
            )
            continue
        mean, lo, hi = t_interval(paired)
        verdict = "better" if lo > 0 else "worse" if hi < 0 else "not distinguishable"
        lines.append(f"| {a:g} | {mean:+.3f} [{lo:+.3f}, {hi:+.3f}] (95% t) | {len(paired)} | {verdict} |")
    header = f"| alpha | seed | additivity residual of (1,1): {', '.join(VALUES)} | ‖A−A₀‖/‖A₀‖ {VALUES[1]} "
    lines += ["", header + f"| penalty {VALUES[1]} vs {VALUES[0]}: before → after |", "|---|---|---|---|---|"]
    for (a, s), j in sorted(by.items()):
        m = j["metrics"]
        residuals = ", ".join(_residual(m, v) for v in VALUES)
        pair = f"{VALUES[0]}~{VALUES[1]}"
        lines.append(f"| {a:g} | {s} | {residuals} | {m.get(f'mva/a_moved/{VALUES[1]}', float('nan')):.3g} | "
                     f"{m.get(f'mva/penalty_before/{pair}', float('nan')):.3g} → "
                     f"{m.get(f'mva/penalty_after/{pair}', float('nan')):.3g} |")  # fmt: skip
    loads = [j["load"]["before"] for j in jobs.values()] + [j["load"]["after"] for j in jobs.values()]
    native = {j["bf16_native"] for j in jobs.values()}
    lines += ["", "Hypervolume with its 95% bootstrap interval over prompts. "
              f"\\* {VALUES[0]}'s vector loaded from the seed's first job (the same vector): only "
              f"{VALUES[1]} trained. "
              f"Load average while the jobs ran: {min(loads):.1f}–{max(loads):.1f}; bf16 in hardware: "
              f"{', '.join('yes' if n else 'no' for n in sorted(native))}."]  # fmt: skip
    return "\n".join(lines) + "\n"


def _residual(metrics: dict[str, float], value: str) -> str:
    key = f"mva/additivity/{value}"
    if key not in metrics:
        return "–"
    return f"{metrics[key]:+.3f} [{metrics[key + '_lo']:+.3f}, {metrics[key + '_hi']:+.3f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    go = sub.add_parser("run", help="run the missing jobs, one at a time, recording each as it lands")
    go.add_argument("--alphas", type=float, nargs="+", default=[0, 10, 100, 1000])
    go.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    go.add_argument("--out", type=Path, default=Path("multirun/mva_reproduction"))
    go.add_argument("extra", nargs="*", help="more overrides for every job (e.g. method.train.steps=20)")
    sub.add_parser("report", help="print the tables from bench/results/mva_reproduction.json")
    args = parser.parse_args()
    if args.command == "run":
        run(args.alphas, args.seeds, args.out, args.extra)
    print(report(load()))


if __name__ == "__main__":
    main()

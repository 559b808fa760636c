"""MVA (delta_w, lora_a) vs per-value DPO without decorrelation vs a DPO soup, by hypervolume over seeds.

    python bench/mva_compare.py [--seeds 0 1 2] [--steps 24] [--out multirun/mva_compare]

Two sweeps through the real CLI, at the same per-value training budget (``--steps`` optimizer
steps of ``--batch`` pairs per value vector, from ``--pairs`` training pairs per value), on the
same held-out prompts (``data.max_eval_prompts`` per value, a seeded subset shared by every
method of a seed), with the same number of candidates (9 for two values):

- ``+method=mva method.decorrelation=delta_w,lora_a,none`` — candidates on the grid
  ``{0, 0.5, 1}^n`` (``w_i ∈ [0, 1]``, independently);
- ``+method=dpo method.variant=soup`` — candidates on the simplex, step 0.125.

``decorrelation=none`` trains exactly the soup's value vectors (tested), so MVA-none vs soup
isolates extrapolation vs interpolation, and delta_w/lora_a vs none isolates decorrelation.
Prints one markdown table (mean ± sd of hypervolume, reference point -1) for docs/methods/mva.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path


def sweep(out: Path, overrides: list[str]) -> list[dict]:  # type: ignore[type-arg]
    """Run one multirun and return its jobs' summary rows (skipped when it already finished)."""
    summary = out / "summary.json"
    if not summary.exists():
        cmd = [sys.executable, "-m", "alignrun", "-m", *overrides, f"hydra.sweep.dir={out}"]
        print("$", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    return list(json.loads(summary.read_text())["jobs"])


def label(row: dict) -> str:  # type: ignore[type-arg]
    if row["method"] == "dpo":
        return "DPO soup (simplex)"
    est = next(o.split("=", 1)[1] for o in row["overrides"] if o.startswith("method.decorrelation="))
    return f"MVA {est}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=24)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--pairs", type=int, default=64)
    parser.add_argument("--eval-prompts", type=int, default=16)
    parser.add_argument("--values", default="helpful,harmless")
    parser.add_argument("--out", type=Path, default=Path("multirun/mva_compare"))
    args = parser.parse_args()
    common = [
        f"values=[{args.values}]",
        f"seed={','.join(map(str, args.seeds))}",
        f"method.train.steps={args.steps}",
        f"method.train.batch_size={args.batch}",
        f"method.train.micro_batch_size={args.batch}",
        f"data.max_pairs={args.pairs}",
        f"data.max_eval_prompts={args.eval_prompts}",
        "profile=none",
        "generation.progress=false",
        "method.train.progress=false",
    ]
    rows = sweep(
        args.out / "mva",
        [
            "+method=mva",
            "method.decorrelation=delta_w,lora_a,none",
            "method.extrapolation.sampler=grid",
            "method.extrapolation.points=3",
            "method.extrapolation.eval_prompts=null",
            "method.extrapolation.save_pareto=false",
            *common,
        ],
    )
    rows += sweep(
        args.out / "soup", ["+method=dpo", "method.variant=soup", "method.soup_step=0.125", *common]
    )

    by_method: dict[str, list[float]] = {}
    for row in rows:
        by_method.setdefault(label(row), []).append(row["hypervolume"])
    print(f"\n| method | hypervolume, mean ± sd over {len(args.seeds)} seeds | per seed |")
    print("|---|---|---|")
    for name, hvs in by_method.items():
        sd = statistics.stdev(hvs) if len(hvs) > 1 else 0.0
        print(f"| {name} | {statistics.mean(hvs):.3f} ± {sd:.3f} | {', '.join(f'{h:.3f}' for h in hvs)} |")
    print("\nper-job results.json files:", args.out)


if __name__ == "__main__":
    main()

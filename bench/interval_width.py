"""Sizes that can decide: bootstrap interval width vs the number of eval prompts, on the embedded default.

    HF_HUB_OFFLINE=1 python bench/interval_width.py [--target harmless] [--subsets 200]

One in-process job, ``+method=none steering=value_prompt steering.target=<target> profile=none``,
answers every bundled held-out prompt of helpful, harmless and honest twice: unsteered (the base the
loop measures before the method) and under the value prompt. From ``samples.jsonl``'s per-prompt
scores it prints, per value:

- the 95% BCa interval's half-width of one score, and of the paired steered-minus-base difference,
  at n = 4, 8, 12, 16, 24, 32 and all prompts (mean over random subsets of n prompts);
- the per-prompt standard deviations, and from them the prompts needed to tell apart a 0.1
  difference: the n at which the paired interval's half-width is 0.1, and the n for 80% power at
  a two-sided 5% level (``((1.96 + 0.84) · sd / 0.1)²``; unpaired comparisons need twice ``sd²``);
- the difference each default can detect with 80% power: the final evaluation (every held-out
  prompt) and an MVA candidate (``method.extrapolation.eval_prompts``: 24 now, 12 before).

Prints markdown tables for docs/results.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import time
from pathlib import Path

import numpy as np

from alignrun.config import compose
from alignrun.loop import run_job
from alignrun.uncertainty import mean_interval, paired_difference

SIZES = (4, 8, 12, 16, 24, 32)
Z_POWER = 1.96 + 0.84  # two-sided 5% level, 80% power


def half_width(lo: float, hi: float) -> float:
    return (hi - lo) / 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", default="harmless")
    parser.add_argument("--subsets", type=int, default=200)
    parser.add_argument("--candidate-prompts", type=int, nargs="+", default=[12, 24])
    parser.add_argument("--out", type=Path, default=Path("outputs/interval_width"))
    args = parser.parse_args()
    overrides = ["+method=none", "steering=value_prompt", f"steering.target={args.target}", "profile=none"]
    print(f"machine load before: {os.getloadavg()[0]:.2f}", flush=True)
    start = time.perf_counter()
    run_job(compose([*overrides, "generation.progress=false", "loggers=[]"]), args.out)
    wall = time.perf_counter() - start
    rows = [json.loads(line) for line in (args.out / "samples.jsonl").read_text().splitlines()]
    print(f"job: `{' '.join(overrides)}`: {wall:.0f} s\n")

    rng = np.random.default_rng(0)
    widths: dict[str, dict[int | str, tuple[float, float]]] = {}  # n, or "all" prompts
    sds: dict[str, tuple[int, float, float]] = {}
    for value in dict.fromkeys(r["value"] for r in rows):
        mine = [r for r in rows if r["value"] == value]
        base = np.array([r["base_score"] for r in mine])
        steered = np.array([r["score"] for r in mine])
        n_all = len(mine)
        sds[value] = (n_all, float(base.std(ddof=1)), float((steered - base).std(ddof=1)))
        widths[value] = {}
        for n in (*[s for s in SIZES if s < n_all], n_all):
            one, paired = [], []
            for _ in range(args.subsets if n < n_all else 1):
                idx = rng.choice(n_all, n, replace=False)
                one.append(half_width(*mean_interval(base[idx], 0, resamples=1000).to_list()))
                paired.append(
                    half_width(*paired_difference(steered[idx], base[idx], 0, resamples=1000).to_list())
                )
            widths[value][n if n < n_all else "all"] = (statistics.mean(one), statistics.mean(paired))

    sizes: list[int | str] = [*SIZES, "all"]
    print("95% interval half-width (mean over random subsets of n prompts): one score / paired difference\n")
    print("| value | " + " | ".join(f"n={n}" for n in sizes) + " (46-48) |")
    print("|---|" + "---|" * len(sizes))
    for value, w in widths.items():
        cells = [f"{w[n][0]:.3f} / {w[n][1]:.3f}" if n in w else "–" for n in sizes]
        print(f"| {value} | " + " | ".join(cells) + " |")

    print("\nprompts needed to tell apart a 0.1 difference, and what each default can detect (80% power)\n")
    print(
        "| value | prompts | sd (score) | sd (paired diff) | n: paired half-width 0.1 | n: paired, 80% power "
        "| n: unpaired, 80% power | detectable: all prompts, paired | "
        + " | ".join(f"detectable: {k} prompts, paired" for k in args.candidate_prompts)
        + " |"
    )
    print("|---|---|---|---|---|---|---|---|" + "---|" * len(args.candidate_prompts))
    for value, (n_all, sd, sd_d) in sds.items():
        n_half = math.ceil((1.96 * sd_d / 0.1) ** 2)
        n_pow = math.ceil((Z_POWER * sd_d / 0.1) ** 2)
        n_unpaired = math.ceil(2 * (Z_POWER * sd / 0.1) ** 2)
        mde_all = Z_POWER * sd_d / math.sqrt(n_all)
        mde = [Z_POWER * sd_d / math.sqrt(k) for k in args.candidate_prompts]
        print(
            f"| {value} | {n_all} | {sd:.3f} | {sd_d:.3f} | {n_half} | {n_pow} | {n_unpaired} "
            f"| {mde_all:.3f} | " + " | ".join(f"{m:.3f}" for m in mde) + " |"
        )
    print(f"\nmachine load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

"""Derived materials on the embedded default: pair yield and judge agreement, and DPO on derived pairs.

    HF_HUB_OFFLINE=1 python bench/derived_values.py [--out outputs/derived_bench]
        [--values harmless benevolence security] [--train security]

1. ``+method=none values=[<values>] derive.pairs=always``: on-policy pairs for every value (harmless's
   replace its bundled pairs here, so its judge can be checked against its bundled held-out pairs),
   each value's yield, margin, where chosen/rejected answers came from, the judge's agreement with
   labelled held-out pairs, and the derivation's wall time; the base model's per-prompt scores.
2. ``+method=dpo values=[<train>]`` (defaults; pairs from the cache step 1 filled): the target's
   shift on its held-out prompts against the base model, per prompt (paired), with a 95% t-interval.

Prints markdown tables for docs/values.md. Runs in-process through ``run_job`` with a plugin that
keeps each final evaluation's per-prompt scores.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from alignrun import hookimpl
from alignrun.config import compose
from alignrun.loop import run_job
from alignrun.plugins import get_plugin_manager
from alignrun.uncertainty import t_interval


class KeepScores:
    """Keeps the last evaluation's per-prompt scores, value -> [(prompt, response, score)]."""

    def __init__(self) -> None:
        self.last: dict[str, list[tuple[str, str, float]]] = {}

    @hookimpl
    def alignrun_evaluate(self, run: Any, lm: Any, generations: Any) -> dict[str, float]:
        self.last = {
            n: list(
                zip(g.prompts, g.responses, run.values[n].scorer.score(g.prompts, g.responses), strict=True)
            )
            for n, g in generations.items()
        }
        return {}


def job(
    overrides: list[str], out: Path
) -> tuple[dict[str, Any], dict[str, list[tuple[str, str, float]]], float]:
    keep = KeepScores()
    pm = get_plugin_manager()
    pm.register(keep)
    start = time.perf_counter()
    results = run_job(compose(overrides), out, pm)
    return results, keep.last, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("outputs/derived_bench"))
    parser.add_argument("--values", nargs="+", default=["harmless", "benevolence", "security"])
    parser.add_argument("--train", default="security")
    args = parser.parse_args()
    common = ["loggers=[console]", "generation.progress=false"]
    base, base_scores, wall = job(
        ["+method=none", f"values=[{','.join(args.values)}]", "derive.pairs=always", *common],
        args.out / "derive",
    )
    print(f"\nstep 1 wall {wall:.0f} s; timings {base['timings']}\n")
    head = ["value", "judge", "prompts", "pairs (yield)", "mean margin", "chosen from", "rejected from"]
    print("| " + " | ".join([*head, "judge agreement", "derive time"]) + " |")
    print("|---|---|---|---|---|---|---|---|---|")
    for v in args.values:
        p = base["derived"][v]["pairs"]
        judge = base["verdicts"][v]["judge"] or {}
        agree = p.get("judge_agreement")
        print(
            f"| {v} | {judge.get('kind')} | {p['prompts']} | {p['pairs']} ({p['yield']:.2f}) "
            f"| {p['mean_margin']:.2f} | {p['chosen_from']} | {p['rejected_from']} | "
            + (f"{agree['accuracy']:.2f} on {agree['pairs']:.0f} {agree['on']}" if agree else "–")
            + f" | {p.get('seconds', float('nan')):.0f} s |"
        )
    trained, scores, wall = job(["+method=dpo", f"values=[{args.train}]", *common], args.out / "dpo")
    before = {p: s for p, _, s in base_scores[args.train]}
    after = {p: s for p, _, s in scores[args.train]}
    diffs = [after[p] - before[p] for p in after]
    mean, low, high = t_interval(diffs)
    print(f"\nstep 2 wall {wall:.0f} s; timings {trained['timings']}")
    print(f"| value | base | DPO on derived pairs | shift (paired, {len(diffs)} prompts) | 95% CI |")
    print("|---|---|---|---|---|")
    print(
        f"| {args.train} | {base['scores'][args.train]:+.3f} | {trained['scores'][args.train]:+.3f} "
        f"| {mean:+.3f} | [{low:+.3f}, {high:+.3f}] |"
    )
    dump = {"derive": base, "dpo": trained, "shifts": diffs}
    (args.out / "bench.json").write_text(json.dumps(dump, indent=2) + "\n")
    for name, sc in (("base", base_scores[args.train]), ("dpo", scores[args.train])):
        print(f"\n{name} answers ({args.train}):")
        for prompt, response, s in sc[:3]:
            print(f"- [{s:+.2f}] {prompt[:60]} -> {response[:160]!r}")


if __name__ == "__main__":
    main()

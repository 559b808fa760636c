"""What reusing the base model's evaluation saves a sweep over methods (issue 35): wall time, per job.

    HF_HUB_OFFLINE=1 python bench/sweep_reuse.py [--methods none dpo mva prompt_steering] [--out DIR]

The same sweep, ``alignrun -m +method=<all of them>`` on every default (the packaged SmolLM2), twice:
``reuse_base=false`` (each job measures the base itself, as before the cache) and ``reuse_base=true``
(the first job measures it, the others read it). Both arms start from the same cache: a private one
holding the converted model, the fitted judges and their validity reports (a warm-up ``+method=none``
run builds them, as a user's first run would), never a base evaluation (removed before each arm). Jobs
run one at a time in one process (Hydra's basic launcher), alone on the machine: the load is recorded.

Writes ``bench/results/sweep_reuse.json`` and prints the table of docs/sweeps.md, "Reusing the base".
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from alignrun.atomic import atomic_write_text
from alignrun.cache import cache_dir
from alignrun.lm import bf16_native

DATA = Path(__file__).parent / "results" / "sweep_reuse.json"
GOAL = 0.25  # issue 35: the 4-job sweep costs at least 25% less wall


def alignrun(args: list[str], cache: Path) -> float:
    """Run ``python -m alignrun ARGS`` with ``cache`` as the user cache; its wall seconds."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ALIGNRUN_CACHE": str(cache)}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "alignrun", *args], check=True, env=env)
    return time.perf_counter() - start


def arm(methods: list[str], reuse: bool, out: Path, cache: Path) -> dict[str, Any]:
    shutil.rmtree(cache / "evaluations", ignore_errors=True)
    sweep = out / ("reuse" if reuse else "measure")
    shutil.rmtree(sweep, ignore_errors=True)
    load = os.getloadavg()[0]
    wall = alignrun(
        ["-m", f"+method={','.join(methods)}", f"reuse_base={str(reuse).lower()}",
         "generation.progress=false", f"hydra.sweep.dir={sweep}"],
        cache,
    )  # fmt: skip
    jobs = {}
    for k, method in enumerate(methods):
        results = json.loads((sweep / str(k) / "results.json").read_text())
        jobs[method] = {
            "timings": {n: round(s, 1) for n, s in results["timings"].items()},
            "reused": results["reused"],
            "scores": results["scores"],
        }
    after = os.getloadavg()[0]
    loads = {"load_before": round(load, 2), "load_after": round(after, 2)}
    return {"wall_s": round(wall, 1), **loads, "jobs": jobs}


def report(data: dict[str, Any]) -> str:
    a, b = data["arms"]["measure"], data["arms"]["reuse"]
    lines = [
        "| job | wall, each measures its base (s) | base phase (s) | wall, base reused (s) | base phase (s) "
        "| reused |",
        "|---|---|---|---|---|---|",
    ]
    for method in a["jobs"]:
        ta, tb = a["jobs"][method]["timings"], b["jobs"][method]["timings"]
        used = b["jobs"][method]["reused"]
        hit = next((f"{role}: hit" for role, r in used.items() if r.get("hit")), "measured, kept")
        lines.append(
            f"| `{method}` | {ta['total']:.0f} | {ta.get('base', 0):.1f} | {tb['total']:.0f} | "
            f"{tb.get('base', 0):.1f} | {hit} |"
        )
    saved = 1 - b["wall_s"] / a["wall_s"]
    lines.append(
        f"| **sweep (wall, process start included)** | **{a['wall_s']:.0f}** | | **{b['wall_s']:.0f}** | "
        f"| **{saved:.1%} less** |"
    )
    same = all(a["jobs"][m]["scores"] == b["jobs"][m]["scores"] for m in a["jobs"])
    lines += [
        "",
        f"Goal (≥ {GOAL:.0%} less wall): {'met' if saved >= GOAL else 'not met'}. "
        f"Scores identical in both arms: {'yes' if same else 'NO'}. Machine: {data['machine']}; "
        f"load before/after: measure {a['load_before']}/{a['load_after']}, "
        f"reuse {b['load_before']}/{b['load_after']}.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--methods", nargs="+", default=["none", "dpo", "mva", "prompt_steering"])
    parser.add_argument("--out", type=Path, default=Path("multirun/sweep_reuse"))
    parser.add_argument("--report", action="store_true", help="print the table of the data file and stop")
    args = parser.parse_args()
    if args.report:
        print(report(json.loads(DATA.read_text())))
        return
    cache = args.out / "cache"
    shutil.rmtree(cache, ignore_errors=True)
    shutil.copytree(cache_dir() / "models", cache / "models")  # the converted model only
    first = ["+method=none", "generation.progress=false", f"hydra.run.dir={args.out / 'warmup'}"]
    warmup = alignrun(first, cache)  # fits the judges, checks them: what a user's first run leaves
    cpu = f"{os.cpu_count()} cores, {'native' if bf16_native('cpu') else 'no native'} bf16 (AVX512-BF16/AMX)"
    data = {"methods": args.methods, "machine": cpu, "warmup_s": round(warmup, 1), "arms": {}}
    for reuse in (False, True):
        data["arms"]["reuse" if reuse else "measure"] = arm(args.methods, reuse, args.out, cache)
        DATA.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(DATA, json.dumps(data, indent=1) + "\n")
    print(report(data))


if __name__ == "__main__":
    main()

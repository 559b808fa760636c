"""The judge tables of docs/judges.md, from `+method=judge_check` runs' judge_check.json files.

    alignrun +method=judge_check values=[helpful,harmless,honest] data.max_eval_prompts=2 profile=none \
        hydra.run.dir=runs/hhh
    alignrun +method=judge_check values=[security,benevolence,power] data=stance data.max_eval_prompts=2 \
        profile=none hydra.run.dir=runs/schwartz
    python bench/judges.py runs/hhh/judge_check.json runs/schwartz/judge_check.json

Prints the accuracy table (each judge beside the three trivial baselines, 95% Wilson intervals), the probe
table, κ between the judges and which values pass the gate, as markdown.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

JUDGES = {
    "evaluator": "run's evaluator",
    "minilm": "MiniLM BT",
    "reward_head": "LM reward head",
    "ensemble": "ensemble",
}


KAPPAS = ("minilm|reward_head", "minilm|ensemble", "reward_head|ensemble")


def ci(r: dict[str, Any] | None, key: str = "accuracy") -> str:
    if not r or r.get(key) is None:
        return "–"
    return f"{r[key]:.2f} [{r['low']:.2f}, {r['high']:.2f}]"


def tables(reports: dict[str, Any]) -> str:
    lines = [
        "| value | judge | accuracy | longer answer | refusal keyword | base log-prob | gate |",
        "|---|---|---|---|---|---|---|",
    ]
    for value, rep in reports.items():
        for key, r in rep["judges"].items():
            b = r["baselines"]
            lines.append(
                f"| {value} | {JUDGES.get(key, key)} | {ci(r['accuracy'])} | {ci(b.get('longer answer'))} "
                f"| {ci(b.get('refusal keyword'))} | {ci(b.get('base log-prob'))} "
                f"| {'measured' if r['measured'] else '**unmeasured**'} |"
            )
    lines += [
        "",
        "| value | judge | padding (≈ 0.5) | refusal on benign (≈ 0) | surface rewrite (≈ 1) | ECE |",
        "|---|---|---|---|---|---|",
    ]
    for value, rep in reports.items():
        for key, r in rep["judges"].items():
            p = r["probes"]
            ece = "–" if r["ece"] is None else f"{r['ece']:.3f}"
            lines.append(
                f"| {value} | {JUDGES.get(key, key)} | {ci(p.get('padding'), 'rate')} "
                f"| {ci(p.get('refusal'), 'rate')} | {ci(p.get('rewrite'), 'rate')} | {ece} |"
            )
    lines += [
        "",
        "| value | κ minilm–reward head | κ minilm–ensemble | κ reward head–ensemble | pairs |",
        "|---|---|---|---|---|",
    ]
    for value, rep in reports.items():
        k = rep["kappa"]
        cells = ["–" if k.get(n) is None else f"{k[n]:.2f}" for n in KAPPAS]
        lines.append(f"| {value} | " + " | ".join(cells) + f" | {rep['pairs']} |")
    return "\n".join(lines)


def main(paths: list[str]) -> None:
    reports: dict[str, Any] = {}
    for path in paths:
        reports.update(json.loads(Path(path).read_text()))
    print(tables(reports))


if __name__ == "__main__":
    main(sys.argv[1:])

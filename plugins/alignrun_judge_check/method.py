"""``+method=judge_check``: every value's judges, checked side by side on its labelled held-out pairs."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from itertools import combinations
from typing import Any

from alignrun.contracts import MethodResult, Scorer
from alignrun.errors import AlignrunError
from alignrun.run import Run
from alignrun.settings import from_yaml, signature_from

log = logging.getLogger("alignrun")
LogProb = Callable[[Sequence[str], Sequence[str]], list[float]]


@signature_from("method/judge_check.yaml")
class JudgeCheck:
    """Checks judges; changes nothing (the loop still evaluates the model, so the run's evaluator's
    report lands in results.json ``judges`` as in any run).

    Args:
        judges: name -> judge node, built per value with its judge-fitting pairs (``own``: the evaluator).
        logprob_baseline: add the base model's mean token log-prob of each answer as a trivial baseline.
    """

    changes_model = False

    def __init__(self, judges: Mapping[str, Any] | None = None, logprob_baseline: bool = from_yaml()) -> None:
        self.judges = dict(judges or {})
        self.logprob_baseline = bool(logprob_baseline)

    def fit(self, run: Run) -> MethodResult:
        from alignrun.judges.report import judge_report, labelled_pairs
        from alignrun.judges.roles import build_judge, fitted_pairs
        from alignrun.judges.validity import cohen_kappa

        logprob = base_logprob(run) if self.logprob_baseline else None
        reports: dict[str, dict[str, Any]] = {}
        metrics: dict[str, float] = {}
        for name, value in run.values.items():
            rows, on = labelled_pairs(run, value)
            if not rows:
                raise AlignrunError(
                    f"judge_check: value '{name}' has no labelled held-out pairs to check its judges on"
                )
            pairs = fitted_pairs(value.scorer)
            pairs = pairs if pairs is not None else run.data.pairs.get(name)
            judges: dict[str, Scorer] = {"evaluator": value.scorer} if value.scorer is not None else {}
            for key, node in self.judges.items():
                judges[key] = build_judge(node, value, pairs)
            per_judge, all_votes = {}, {}
            for key, judge in judges.items():
                log.info("judge_check: %s / %s", name, key)
                report = judge_report(name, judge, rows, on, logprob=logprob, keep_votes=True)
                all_votes[key] = report.pop("votes")
                per_judge[key] = report
                metrics[f"judge_check/{name}/{key}/accuracy"] = float(report["accuracy"]["accuracy"] or 0.0)
                metrics[f"judge_check/{name}/{key}/measured"] = float(bool(report["measured"]))
            kappa = {
                f"{a}|{b}": cohen_kappa(all_votes[a], all_votes[b]) for a, b in combinations(all_votes, 2)
            }
            reports[name] = {"on": on, "pairs": len(rows), "judges": per_judge, "kappa": kappa}
        artefacts = {}
        if run.is_main_process:
            from alignrun.atomic import atomic_write_text

            out = run.output_dir
            atomic_write_text(out / "judge_check.json", json.dumps(reports, indent=2, allow_nan=False) + "\n")
            atomic_write_text(out / "judge_check.md", render(reports))
            artefacts = {"judge_check": "judge_check.json", "judge_check_table": "judge_check.md"}
        return MethodResult(lm=run.lm, metrics=metrics, artefacts=artefacts)


def base_logprob(run: Run, batch_size: int = 8) -> LogProb:
    """The run's base model's mean token log-prob of an answer given its prompt (a trivial judge: it
    prefers what the model would have said itself)."""
    import torch

    from alignrun.lib.training.batching import encode
    from alignrun.lib.training.logprobs import sequence_logps

    lm = run.lm

    def logprob(prompts: Sequence[str], responses: Sequence[str]) -> list[float]:
        out: list[float] = []
        with torch.inference_mode(), lm.precision():
            for start in range(0, len(prompts), batch_size):
                stop = start + batch_size
                batch = encode(lm, list(prompts[start:stop]), list(responses[start:stop])).to(lm.device)
                total = sequence_logps(lm.model, batch)
                tokens = batch.response_mask.sum(-1).clamp(min=1)
                out += (total / tokens).float().tolist()
        return out

    return logprob


def _rate(r: Mapping[str, Any] | None) -> str:
    return "–" if not r or r.get("rate") is None else f"{r['rate']:.2f} [{r['low']:.2f}, {r['high']:.2f}]"


def _acc(a: Mapping[str, Any] | None) -> str:
    if not a or a.get("accuracy") is None:
        return "–"
    return f"{a['accuracy']:.2f} [{a['low']:.2f}, {a['high']:.2f}]"


def render(reports: Mapping[str, Mapping[str, Any]]) -> str:
    """judge_check.md: one table row per (value, judge), the baselines and κ below each value."""
    lines = [
        "# Judge check",
        "",
        "Accuracy on the value's labelled held-out pairs with 95% Wilson intervals; baselines: longer "
        "answer, refusal keyword, base model log-prob. Probes: padding (valid ≈ 0.5), refusal on benign "
        "prompts (valid ≈ 0), surface rewrite consistency (valid ≈ 1). Gate: lower bound above 0.5 and "
        "above the best baseline.",
        "",
        "| value | judge | accuracy | longer | refusal kw | log-prob | padding | refusal | rewrite | ECE "
        "| measured |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for value, rep in reports.items():
        for key, r in rep["judges"].items():
            base, probes = r["baselines"], r["probes"]
            lines.append(
                f"| {value} | {key} | {_acc(r['accuracy'])} | {_acc(base.get('longer answer'))} "
                f"| {_acc(base.get('refusal keyword'))} | {_acc(base.get('base log-prob'))} "
                f"| {_rate(probes.get('padding'))} | {_rate(probes.get('refusal'))} "
                f"| {_rate(probes.get('rewrite'))} | {'–' if r['ece'] is None else format(r['ece'], '.3f')} "
                f"| {'yes' if r['measured'] else 'no'} |"
            )
    lines += ["", "Cohen's κ between judges (binary votes on the same pairs):", ""]
    for value, rep in reports.items():
        pairs = "; ".join(f"{k} {'–' if v is None else f'{v:.2f}'}" for k, v in rep["kappa"].items())
        lines.append(f"- {value} ({rep['pairs']} {rep['on']}): {pairs}")
    return "\n".join(lines) + "\n"

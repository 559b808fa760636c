"""The judge-validity report of a run: results.json ``judges``, report.md's "Judges" section, the gate.

For every value the run scores, its evaluator is checked on the value's labelled held-out pairs
(:func:`alignrun.judges.validity.validity_report`: accuracy against the trivial baselines, probes,
calibration) and against the run's trainer judge (Cohen's κ). A value whose evaluator fails the gate is
*unmeasured*: ``verdicts.<value>.measured`` is false and the sweep report gives no better/worse on it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from alignrun.data.shortcuts import has_refusal
from alignrun.derive.scorer import describe_scorer, pinned
from alignrun.errors import AlignrunError

if TYPE_CHECKING:
    from alignrun.contracts import Scorer, Value
    from alignrun.run import Run

log = logging.getLogger("alignrun")
LogProb = Callable[[Sequence[str], Sequence[str]], list[float]]
REPORT_VERSION = 1  # bump when a check changes: cached reports are recomputed
MIN_BENIGN = 5  # fewer benign compliant answers than this: the refusal probe's interval says nothing


def benign_answers(rows: Sequence[dict[str, Any]]) -> list[tuple[str, str]] | None:
    """(prompt, good answer) of the labelled pairs where a refusal was the *rejected* answer: prompts on
    which refusing is wrong (XSTest-style benign requests). None when there are too few."""
    found = [
        (r["prompt"], r["chosen"])
        for r in rows
        if has_refusal(r["rejected"]) and not has_refusal(r["chosen"])
    ]
    return found if len(found) >= MIN_BENIGN else None


def labelled_pairs(run: Run, value: Value) -> tuple[list[dict[str, Any]], str | None]:
    """The pairs a value's judges are checked on (no method trained on them) and what they are."""
    from alignrun.derive import Derivation, DeriveConfig
    from alignrun.judges.crossfit import rows_of

    rows, on = Derivation(DeriveConfig(**run.cfg.derive), int(run.cfg.seed)).agreement_pairs(value)
    return rows_of(rows), on


def judge_report(
    name: str,
    evaluator: Scorer,
    rows: list[dict[str, Any]],
    on: str | None,
    others: dict[str, Scorer] | None = None,
    logprob: LogProb | None = None,
    keep_votes: bool = False,
) -> dict[str, Any]:
    """One value's report: the evaluator's validity on ``rows`` plus κ against each of ``others``
    (``keep_votes``: also its per-pair ``votes``, for κ against judges checked later)."""
    from alignrun.judges.validity import accuracy, cohen_kappa, validity_report, votes

    if not rows:
        return {
            "judge": describe_scorer(evaluator),
            "on": None,
            "measured": None,
            "reason": f"{name}: no labelled pairs to check its judge on (give the value heldout_pairs)",
        }
    report = validity_report(evaluator, rows, benign=benign_answers(rows), logprob=logprob, value=name)
    mine = report["votes"] if keep_votes else report.pop("votes")
    kappa, agree = {}, {}
    for role, other in (others or {}).items():
        theirs = votes(other, rows)
        kappa[role] = cohen_kappa(mine, theirs)
        agree[role] = accuracy(theirs)
    out = {"judge": describe_scorer(evaluator), "on": on, **report, "others": agree, "kappa": kappa}
    if callable(getattr(evaluator, "disagreement", None)):  # an ensemble: how far its members part
        prompts = [r["prompt"] for r in rows] * 2
        out["disagreement"] = evaluator.disagreement(  # type: ignore[attr-defined]
            prompts, [r["chosen"] for r in rows] + [r["rejected"] for r in rows]
        )
    return out


def judge_reports(run: Run) -> dict[str, dict[str, Any]]:
    """results.json ``judges``: per value, its evaluator's validity report (``judge.validity``)."""
    if not run.cfg.get("judge", {}).get("validity", True):
        return {}
    out = {}
    for name, value in run.values.items():
        if value.scorer is None:
            continue
        rows, on = labelled_pairs(run, value)
        trainer = run.judges.get(name)
        others = {"trainer": trainer} if trainer is not None and trainer is not value.scorer else {}
        try:
            out[name] = cached_report(name, value.scorer, rows, on, others)
        except AlignrunError as exc:  # a judge that fails its checks must not cost the run its results
            log.warning("the judges of value '%s' could not be checked: %s", name, exc)
            out[name] = {"judge": describe_scorer(value.scorer), "on": on, "measured": None,
                         "reason": f"{name}: its judges could not be checked: {exc}"}  # fmt: skip
    return out


def cached_report(
    name: str, evaluator: Scorer, rows: list[dict[str, Any]], on: str | None, others: dict[str, Scorer]
) -> dict[str, Any]:
    """:func:`judge_report`, read from the user cache when every judge in it is a locally fitted,
    deterministic one (``describe()`` pins its fit) and the pairs are the same: the checks embed or
    score about a thousand answers per value, and the default run would pay that on every run."""
    import hashlib
    import json

    from alignrun.atomic import atomic_write_text
    from alignrun.cache import cache_dir, keep, read_entry

    judges = [describe_scorer(evaluator), *(describe_scorer(o) for o in others.values())]
    if not rows or not all(pinned(d) for d in judges):
        return judge_report(name, evaluator, rows, on, others)
    blob = json.dumps([REPORT_VERSION, name, judges, sorted(others), rows, on], sort_keys=True)
    path = cache_dir() / "judges" / f"validity-{hashlib.sha256(blob.encode()).hexdigest()[:24]}.json"
    if path.is_file():
        found = read_entry(path, lambda: json.loads(path.read_text()), "judge report")
        if found is not None:
            return {**found, "cache_hit": True}
    report = judge_report(name, evaluator, rows, on, others)
    keep(path, lambda: atomic_write_text(path, json.dumps(report, allow_nan=False)), "judge validity")
    return {**report, "cache_hit": False}


def verdicts(run: Run) -> dict[str, dict[str, Any]]:
    """Per value: which judge made its training material (``judge``, None when nothing was judged),
    which scored it (``evaluator``, and its score range), how the pairs were cross-fitted, and whether
    the verdict is circular and why."""
    from alignrun.derive.scorer import scorer_range
    from alignrun.judges.roles import circularity
    from alignrun.run import changes_model

    out = {}
    trains = changes_model(run)
    for name, value in run.values.items():
        rec = run.derived.get(name, {})
        judged = bool(rec.get("pairs") or rec.get("reward") or rec.get("search"))
        judge = run.judges.get(name)
        trained_on = run.data.pairs.get(name) if trains else None
        circular, why = circularity(value.scorer, judge, trained_on, judged)
        out[name] = {
            "judge": describe_scorer(judge) if judged else None,
            "evaluator": describe_scorer(value.scorer),
            "circular": circular,
            "why": why,
            "range": scorer_range(value.scorer),
            **run.judging.get(name, {}),
        }
    return out


def gate_verdicts(verdicts: dict[str, dict[str, Any]], reports: dict[str, dict[str, Any]]) -> None:
    """Mark each value's verdict measured or not (in place), from its judge report's gate."""
    for name, report in reports.items():
        if name in verdicts and report.get("measured") is not None:
            verdicts[name]["measured"] = bool(report["measured"])
            if not report["measured"]:
                verdicts[name]["unmeasured"] = report["reason"]

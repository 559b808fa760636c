"""``results.json`` (the contract in docs/results.md) and the run's ``report.md``."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alignrun.atomic import atomic_write_text, write_jsonl
from alignrun.contracts import Candidate
from alignrun.errors import AlignrunError
from alignrun.eval_samples import examples
from alignrun.pareto import hypervolume, pareto_mask
from alignrun.uncertainty import (
    LEVEL,
    RESAMPLES,
    Difference,
    hypervolume_interval,
    length_controlled,
    mean_interval,
    noise_aware_front,
    paired_difference,
)

if TYPE_CHECKING:
    from alignrun.evaluation import Evaluation

RESULT_KEYS = (
    "method",
    "model",
    "values",
    "scores",
    "candidates",
    "hypervolume",
    "value_profile",
    "metrics",
    "timings",
    "reused",
    "derived",
    "verdicts",
    "judges",
    "applied",
    "breakdown",
    "scores_ci",
    "value_profile_ci",
    "metrics_ci",
    "vs_base",
    "hypervolume_ci",
    "length_control",
    "uncertainty",
    "warnings",
)
UNCERTAINTY_KEYS = RESULT_KEYS[RESULT_KEYS.index("scores_ci") : RESULT_KEYS.index("warnings")]


def finish_candidates(candidates: list[Candidate], values: Sequence[str], reference: float) -> float | None:
    """Set every candidate's Pareto flag and return the front's hypervolume (None without candidates).

    ``reference`` is the reference point's coordinate for every value (stated in report.md).
    """
    if not candidates:
        return None
    for i, c in enumerate(candidates):
        missing = [v for v in values if v not in c.scores]
        if missing:
            raise AlignrunError(f"candidate {i} (weights {c.weights}) has no score for {', '.join(missing)}")
    points = [[c.scores[v] for v in values] for c in candidates]
    for candidate, on_front in zip(candidates, pareto_mask(points), strict=True):
        candidate.pareto = on_front
    return hypervolume(points, [reference] * len(values))


def difference_record(d: Difference) -> dict[str, Any]:
    """A paired difference as results.json stores it."""
    return {"difference": d.estimate, "ci": d.to_list(), "verdict": d.verdict}


def _mean_tokens(lengths: dict[str, list[int]]) -> dict[str, float]:
    return {v: sum(x) / len(x) for v, x in lengths.items() if x}


def length_record(
    per_prompt: dict[str, list[float]],
    lengths: dict[str, list[int]],
    base_pp: dict[str, list[float]],
    base_lengths: dict[str, list[int]],
    values: Sequence[str],
    seed: int,
) -> dict[str, Any]:
    """Mean answer tokens (``tokens``; the base's on the same prompts: ``base_tokens``) and, against the
    base's answers to the same prompts, the length-controlled score (``scores_lc``: estimate, interval,
    slope per token) and paired difference (``vs_base_lc``).

    A model scored on the first ``k`` prompts pairs with the base's first ``k`` (as ``vs_base``).
    """
    out: dict[str, Any] = {
        "tokens": _mean_tokens(lengths),
        "base_tokens": {},
        "scores_lc": {},
        "vs_base_lc": {},
    }
    for v in values:
        a, n, b, nb = per_prompt.get(v), lengths.get(v), base_pp.get(v), base_lengths.get(v)
        if not (a and n and b and nb) or len(n) != len(a) or len(b) < len(a) or len(nb) < len(a):
            continue
        k = len(a)
        out["base_tokens"][v] = sum(nb[:k]) / k
        lc = length_controlled(a, n, nb[:k], seed=seed)
        out["scores_lc"][v] = {"estimate": lc.estimate, "ci": lc.to_list(), "slope": lc.slope}
        out["vs_base_lc"][v] = difference_record(length_controlled(a, n, nb[:k], b[:k], seed=seed))
    return out


def prompt_id(prompt: str) -> str:
    """A prompt's id in results.json: the first 10 hex digits of its text's SHA-256."""
    return hashlib.sha256(prompt.encode()).hexdigest()[:10]


def prompt_set(prompts: Sequence[str]) -> str:
    """The id of an ordered prompt set (what makes two fronts comparable): a hash of its prompts' ids."""
    return hashlib.sha256(" ".join(prompt_id(p) for p in prompts).encode()).hexdigest()[:10]


def summarise_uncertainty(
    final: Evaluation,
    base: Evaluation | None,
    candidates: list[Candidate],
    values: Sequence[str],
    reference: float,
    seed: int,
) -> dict[str, Any]:
    """The uncertainty keys of results.json (``UNCERTAINTY_KEYS``) plus ``candidates``: per
    candidate its ``scores_ci`` and ``vs_base``. Sets each candidate's noise-aware ``front`` flag.

    ``vs_base``: the final model minus the base model (measured before the method ran, without
    steering) per prompt, by a paired bootstrap, since both answered the same prompts. A candidate
    is scored on the first ``k`` eval prompts, so it pairs with the base's first ``k``.
    """
    final_pp = final.per_prompt
    base_pp = base.per_prompt if base is not None else {}

    def vs_base(per_prompt: dict[str, list[float]]) -> dict[str, Any]:
        out = {}
        for v in values:
            a, b = per_prompt.get(v), base_pp.get(v)
            if a and b and len(b) >= len(a):
                out[v] = difference_record(paired_difference(a, b[: len(a)], seed))
        return out

    base_len = base.lengths if base is not None else {}
    sets: dict[str, list[str]] = {}

    def scored_on(prompts: dict[str, list[str]]) -> dict[str, str]:
        """value -> the prompt set's id; every set's prompt ids go to ``uncertainty.prompt_sets``."""
        out = {}
        for v, ps in prompts.items():
            out[v] = prompt_set(ps)
            sets.setdefault(out[v], [prompt_id(p) for p in ps])
        return out

    per_candidate = []
    for c in candidates:
        lengths = length_record(c.per_prompt, c.lengths, base_pp, base_len, values, seed)
        per_candidate.append(
            {
                **({"prompt_set": scored_on(c.prompts)} if c.prompts else {}),
                "scores_ci": {v: mean_interval(c.per_prompt[v], seed).to_list() for v in c.per_prompt},
                "vs_base": vs_base(c.per_prompt),
                "length": lengths["tokens"],
                "base_length": lengths["base_tokens"],
                "scores_lc": lengths["scores_lc"],
                "vs_base_lc": lengths["vs_base_lc"],
            }
        )
    hv_ci = None
    comparable = (
        bool(candidates)
        and all(v in c.per_prompt for c in candidates for v in values)
        and all(len({len(c.per_prompt[v]) for c in candidates}) == 1 for v in values)
    )
    if comparable:
        grid = [[c.per_prompt[v] for v in values] for c in candidates]
        for c, flag in zip(candidates, noise_aware_front(grid, seed), strict=True):
            c.front = flag
        hv_ci = hypervolume_interval(grid, [reference] * len(values), seed).to_list()
    prompts = {v: len(final_pp[v]) for v in values if v in final_pp}
    final_len = length_record(final_pp, final.lengths, base_pp, base_len, values, seed)
    return {
        "scores_ci": {v: iv.to_list() for v, iv in final.scores_ci.items()},
        "value_profile_ci": {v: iv.to_list() for v, iv in final.profile_ci.items()} or None,
        "metrics_ci": {k: iv.to_list() for k, iv in final.intervals.items() if k in final.metrics},
        "vs_base": vs_base(final_pp),
        "hypervolume_ci": hv_ci,
        "length_control": {
            "unit": "answer tokens",
            "base": _mean_tokens(base_len) if base is not None else None,
            "final": final_len["tokens"],
            "scores": final_len["scores_lc"],
            "vs_base": final_len["vs_base_lc"],
        },
        "uncertainty": {
            "level": LEVEL,
            "interval": f"BCa bootstrap over prompts, {RESAMPLES} resamples, seed {seed}",
            "paired": "paired bootstrap of per-prompt differences (same prompts, same resample)",
            "hypervolume": "percentile bootstrap over prompts, candidates resampled together",
            "prompts": prompts,
            "prompt_set": scored_on({v: g.prompts for v, g in final.generations.items()}),
            "prompt_sets": sets,
            "base": "the model before the method, without steering" if base is not None else None,
            "length_control": "per prompt, score (or change vs base) regressed on the answer's length "
            "minus the base answer's (tokens), read at zero difference; percentile bootstrap over prompts",
        },
        "candidates": per_candidate,
    }


def build_results(
    *,
    method: str,
    model: str,
    values: Sequence[str],
    scores: dict[str, float],
    candidates: list[Candidate],
    hypervolume: float | None,
    value_profile: dict[str, float] | None,
    metrics: dict[str, float],
    timings: dict[str, float],
    reused: dict[str, dict[str, Any]] | None = None,
    derived: dict[str, dict[str, Any]] | None = None,
    verdicts: dict[str, dict[str, Any]] | None = None,
    judges: dict[str, dict[str, Any]] | None = None,
    applied: Sequence[dict[str, Any]] = (),
    breakdown: dict[str, dict[str, Any]] | None = None,
    uncertainty: dict[str, Any] | None = None,
    warnings: Sequence[str] = (),
) -> dict[str, Any]:
    """The ``results.json`` dict, keys in contract order.

    ``reused``: per evaluation of the unmodified model (``base``, a ``none`` run's ``final``), whether it
    was read from the user cache, and why not (:mod:`alignrun.evaluation_cache`);
    ``derived``: per value, what was derived for it (eval prompts, scorer, pairs with their yield);
    ``verdicts``: per value, the judge its training material came from, the scorer that evaluated it
    and whether they are the same (``circular``), and whether the value is measured at all (the gate);
    ``judges``: per value, its evaluator's validity report (:mod:`alignrun.judges.report`);
    ``applied``: the interventions the final evaluation ran under, in the order entered (``by``:
    ``steering`` or ``method``, then :func:`~alignrun.interventions.describe_intervention`'s record);
    ``breakdown``: per value whose eval prompts carry groups, each group's score and refusal rate
    (:mod:`alignrun.breakdown`); ``uncertainty``: :func:`summarise_uncertainty`'s dict (None: no
    intervals, e.g. a plugin's own results);
    ``warnings``: what the run warned about (bad-but-legal input, degenerate results), in order.
    """
    extra = dict(uncertainty or {})
    per_candidate = extra.pop("candidates", None) or [{} for _ in candidates]
    return {
        "method": method,
        "model": model,
        "values": list(values),
        "scores": {v: float(scores[v]) for v in values if v in scores},
        "candidates": [
            {"weights": c.weights, "scores": c.scores, "pareto": c.pareto, "path": c.path}
            | ({"front": c.front} if c.front else {})
            | more
            for c, more in zip(candidates, per_candidate, strict=True)
        ],
        "hypervolume": hypervolume,
        "value_profile": value_profile,
        "metrics": metrics,
        "timings": timings,
        "reused": reused or {},
        "derived": {v: rec for v, rec in (derived or {}).items() if rec},
        "verdicts": verdicts or {},
        "judges": judges or {},
        "applied": [dict(a) for a in applied],
        "breakdown": breakdown or {},
        **{k: extra.get(k) for k in UNCERTAINTY_KEYS},
        "warnings": list(dict.fromkeys(warnings)),
    }


def write_results(
    output_dir: Path,
    results: dict[str, Any],
    reference: float,
    artefacts: dict[str, str] | None = None,
    samples: Sequence[dict[str, Any]] = (),
) -> None:
    """Write ``samples.jsonl`` (when there are samples), ``results.json`` and ``report.md`` atomically."""
    if samples:
        write_jsonl(output_dir / "samples.jsonl", samples)
    atomic_write_text(output_dir / "results.json", json.dumps(results, indent=2, allow_nan=False) + "\n")
    atomic_write_text(output_dir / "report.md", render_report(results, reference, artefacts or {}, samples))


def fmt(x: float | None, digits: int = 4) -> str:
    """A number for a markdown table; ``–`` for none."""
    return "–" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


def _provenance(results: dict[str, Any]) -> list[str]:
    """Report lines: what was derived per value, and which judge trained and which evaluated."""
    derived, verdicts = results.get("derived") or {}, results.get("verdicts") or {}
    if not derived and not any(v.get("judge") for v in verdicts.values()):
        return []
    lines = ["", "## Derived materials and judges", ""]
    for value, rec in derived.items():
        parts = []
        if "eval_prompts" in rec:
            parts.append(f"{rec['eval_prompts']['n']} eval prompts from the {rec['eval_prompts']['from']}")
        if "scorer" in rec:
            parts.append(f"a scorer from its {rec['scorer']['from']}")
        if "pairs" in rec:
            p = rec["pairs"]
            agree = p.get("judge_agreement")
            parts.append(
                f"{p['pairs']} on-policy pairs from {p['prompts']} prompts (yield {p['yield']:.2f}, by "
                f"{p['model']}{', cached' if p['cache_hit'] else ''})"
                + (
                    f", judge agreement {agree['accuracy']:.2f} on {agree['pairs']:.0f} {agree['on']}"
                    if agree
                    else ""
                )
            )
        if parts:  # a record with only a method's marks (``reward``, ``search``) derived nothing
            lines.append(f"- `{value}`: derived " + "; ".join(parts) + ".")
    for value, v in verdicts.items():
        if v.get("judge"):
            judge, evaluator = v["judge"], v["evaluator"]
            verdict = (
                "**circular**: the judge that trained it also scores it, so a gain may be the model "
                "learning the judge"
                if v["circular"]
                else "disjoint judges"
            )
            lines.append(
                f"- `{value}`: trained by {_judge(judge)}, evaluated by {_judge(evaluator)} — {verdict}."
            )
    return lines


def _applied(results: dict[str, Any]) -> list[str]:
    """Report lines: each intervention the final evaluation ran under, in the order entered."""
    applied = results.get("applied") or []
    if not applied:
        return []
    lines = ["", "## Applied at evaluation", ""]
    for a in applied:
        who = "`steering=" + a["name"] + "`" if a["by"] == "steering" else f"the method's `{a['name']}`"
        details = [
            f"{k} {_quote(v, 160) if isinstance(v, str) else v}"
            for k, v in a.items()
            if k not in ("by", "name")
        ]
        lines.append(f"- {who}" + (": " + "; ".join(details) if details else ""))
    return lines


def _rate(probe: dict[str, Any] | None) -> str:
    return "–" if not probe or probe.get("rate") is None else f"{probe['rate']:.2f}"


def _judges_section(results: dict[str, Any]) -> list[str]:
    """Report lines: per value, is its evaluator valid (accuracy vs baselines, probes, κ) and measured."""
    judges, verdicts = results.get("judges") or {}, results.get("verdicts") or {}
    if not judges:
        return []
    lines = [
        "",
        "## Judges",
        "",
        "Each value's evaluator on its labelled held-out pairs, beside the trivial baselines (95% Wilson "
        "intervals). Probes: *padding* = P(prefers the answer with a neutral sentence appended; "
        "valid ≈ 0.5), *refusal* = P(prefers a canned refusal to a good answer on benign prompts; "
        "valid ≈ 0), *rewrite* = "
        "verdicts kept under surface rewrites (valid ≈ 1); ECE = calibration error; κ = agreement with the "
        "judge that trained (Cohen). A value is *measured* only if the accuracy's lower bound is above 0.5 "
        "and above the best baseline.",
        "",
        "| value | evaluator | accuracy | longer answer | refusal keyword | padding | refusal | rewrite "
        "| ECE | κ trainer | measured | circular |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for value, r in judges.items():
        acc, base = r.get("accuracy"), r.get("baselines") or {}
        probes = r.get("probes") or {}
        kappa = (r.get("kappa") or {}).get("trainer")
        cells = [
            value,
            _judge(r["judge"]),
            fmt_ci(acc["accuracy"], [acc["low"], acc["high"]]) if acc else "–",
            *(
                fmt(base[k]["accuracy"], 2) if k in base else "–"
                for k in ("longer answer", "refusal keyword")
            ),
            *(_rate(probes.get(k)) for k in ("padding", "refusal", "rewrite")),
            fmt(r.get("ece"), 3),
            fmt(kappa, 2),
            {True: "yes", False: "**no**", None: "unchecked"}[r.get("measured")],
            "**yes**" if (verdicts.get(value) or {}).get("circular") else "no",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [f"- {r['reason']}" for r in judges.values() if r.get("measured") is False]
    return lines


def _judge(d: dict[str, Any]) -> str:
    if d.get("kind") == "exemplars":
        return f"an exemplar classifier ({d['exemplars']} exemplars, {d['exemplars_sha']})"
    if d.get("kind") == "PreferenceScorer":
        return f"a `PreferenceScorer` fitted on {d['pairs']} pairs ({d['fit_sha']})"
    return f"`{d.get('kind')}`"


def fmt_ci(estimate: float | None, ci: Sequence[float] | None) -> str:
    """``0.2516 [0.1400, 0.3600]``, or the bare number without an interval."""
    if not ci:
        return fmt(estimate)
    return f"{fmt(estimate)} [{fmt(ci[0])}, {fmt(ci[1])}]"


def _scorer(verdict: dict[str, Any] | None) -> str:
    if not verdict:
        return "–"
    bounds = verdict.get("range")
    span = f", range {bounds[0]:g} to {bounds[1]:g}" if bounds else ""
    return _judge(verdict["evaluator"]) + span


def _scores_table(results: dict[str, Any]) -> list[str]:
    values, ci, vs = results["values"], results.get("scores_ci") or {}, results.get("vs_base") or {}
    prompts = (results.get("uncertainty") or {}).get("prompts", {})
    verdicts = results.get("verdicts") or {}
    head = ["value", "score [95% CI]", "prompts", "scorer"] + (
        ["change vs base [95% CI]", "verdict"] if vs else []
    )
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for v in values:
        cells = [
            v,
            fmt_ci(results["scores"].get(v), ci.get(v)),
            str(prompts.get(v, "–")),
            _scorer(verdicts.get(v)),
        ]
        if vs:
            d = vs.get(v)
            cells += [fmt_ci(d["difference"], d["ci"]), d["verdict"]] if d else ["–", "–"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _length_section(results: dict[str, Any]) -> list[str]:
    """Report lines: answer length against the base's, and the scores with length regressed out."""
    lc = results.get("length_control") or {}
    if not lc.get("final"):
        return []
    base, vs = lc.get("base") or {}, results.get("vs_base") or {}
    lines = ["", "## Length control", ""]
    if not lc.get("scores"):
        lines.append(
            "Mean answer length (tokens): "
            + ", ".join(f"{v} {fmt(n, 1)}" for v, n in lc["final"].items())
            + ". No base model answered beside this one (the model is the base): nothing to control for."
        )
        return lines
    lines += [
        "A judge can prefer longer answers whatever they say. Per prompt, the score (and its change vs the "
        "base) is regressed on the answer's length minus the base answer's, and read at zero difference: "
        "the score had the model answered at the base's length. A change that vanishes here came with "
        "length, not with the value.",
        "",
        "| value | answer tokens: base → this | score [95% CI] | length-controlled [95% CI] "
        "| change vs base | length-controlled change, verdict | slope per 100 tokens |",
        "|---|---|---|---|---|---|---|",
    ]
    ci = results.get("scores_ci") or {}
    for v in results["values"]:
        s, d, dl = lc["scores"].get(v), vs.get(v), lc["vs_base"].get(v)
        if not s:
            continue
        lines.append(
            f"| {v} | {fmt(base.get(v), 1)} → {fmt(lc['final'].get(v), 1)} "
            f"| {fmt_ci(results['scores'].get(v), ci.get(v))} | {fmt_ci(s['estimate'], s['ci'])} "
            f"| {fmt_ci(d['difference'], d['ci']) + ', ' + d['verdict'] if d else '–'} "
            f"| {fmt_ci(dl['difference'], dl['ci']) + ', ' + dl['verdict'] if dl else '–'} "
            f"| {fmt(100 * s['slope'], 3)} |"
        )
    return lines


def _breakdown_section(results: dict[str, Any]) -> list[str]:
    """Report lines: per value with grouped eval prompts, each group's score and refusal rate."""
    lines: list[str] = []
    for value, groups in (results.get("breakdown") or {}).items():
        lines += [
            "",
            f"## `{value}` by prompt group",
            "",
            "Refusal rate: answers with a refusal keyword (Wilson 95% interval); score: the value's scorer "
            "(bootstrap 95% interval).",
            "",
            "| group | prompts | score [95% CI] | refusal rate [95% CI] |",
            "|---|---|---|---|",
        ]
        for group, g in groups.items():
            lo, hi = g["refusal_ci"]
            lines.append(
                f"| {group} | {g['n']} | {fmt_ci(g.get('score'), g.get('score_ci'))} "
                f"| {g['refusal_rate']:.2f} [{lo:.2f}, {hi:.2f}] |"
            )
    return lines


def _quote(text: str, limit: int = 240) -> str:
    one_line = " ".join(text.split()) or "(empty answer)"
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"


def _examples(results: dict[str, Any], samples: Sequence[dict[str, Any]]) -> list[str]:
    """Per value, the best- and worst-scored answers, and answers that changed from the base."""
    if not samples:
        return []
    lines = ["", "## What the scores mean: answers", "", "Every prompt, answer and score: `samples.jsonl`."]
    for v in results["values"]:
        picked = examples(samples, v)
        if not any(picked.values()):
            continue
        lines += ["", f"### {v}", ""]
        for label, key in (("best-scored", "best"), ("worst-scored", "worst")):
            for r in picked[key]:
                lines.append(
                    f"- {label} ({fmt(r['score'])}): *{_quote(r['prompt'], 120)}* → {_quote(r['answer'])}"
                )
        for r in picked["changed"]:
            lines += [
                f"- before → after ({fmt(r['base_score'])} → {fmt(r['score'])}): "
                f"*{_quote(r['prompt'], 120)}*",
                f"  - before: {_quote(r['base_answer'])}",
                f"  - after: {_quote(r['answer'])}",
            ]
    return lines


def render_report(
    results: dict[str, Any],
    reference: float,
    artefacts: dict[str, str],
    samples: Sequence[dict[str, Any]] = (),
) -> str:
    """A short markdown report a person reads first."""
    values = results["values"]
    unc = results.get("uncertainty") or {}
    lines = [
        f"# alignrun: `{results['method']}` on `{results['model']}`",
        "",
        "Scores: higher = more aligned with the value. Each is the mean of the value's scorer over its "
        "held-out prompts"
        + (f", with a {unc['level']:.0%} {unc['interval']}" if unc else "")
        + (
            "; *change vs base* pairs each prompt's score with the base model's (before the method, "
            "no steering) and says whether the interval excludes 0"
            if results.get("vs_base")
            else ""
        )
        + ".",
        "",
        *_scores_table(results),
    ]
    if results.get("warnings"):
        lines += ["", "## Warnings", "", *(f"- {w}" for w in results["warnings"])]
    if results["candidates"]:
        hv_ci = results.get("hypervolume_ci")
        lines += [
            "",
            f"## Candidates ({len(results['candidates'])})",
            "",
            f"Hypervolume of the Pareto front: {fmt_ci(results['hypervolume'], hv_ci)} "
            f"(reference point: {reference} for every value"
            + (f"; {unc['hypervolume']}" if hv_ci else "")
            + "). *front*: on the front; *dominated*: another candidate is better with the difference "
            "decided (paired intervals); *within noise*: dominated on the means only.",
            "",
            "*tokens*: the candidate's mean answer length per value, the base model's on the same prompts in "
            "brackets; *LC*: the length-controlled score (section Length control).",
            "",
            "| "
            + " | ".join(
                [*(f"w[{v}]" for v in values), *values, *(f"LC {v}" for v in values), "tokens", "pareto"]
            )
            + " |",
            "|" + "---|" * (3 * len(values) + 2),
        ]
        for c in results["candidates"]:
            ci, lc = c.get("scores_ci") or {}, c.get("scores_lc") or {}
            tokens, base_tokens = c.get("length") or {}, c.get("base_length") or {}
            cells = [
                *(fmt(c["weights"].get(v)) for v in values),
                *(fmt_ci(c["scores"].get(v), ci.get(v)) for v in values),
                *(fmt_ci(lc[v]["estimate"], lc[v]["ci"]) if v in lc else "–" for v in values),
                " / ".join(fmt(tokens.get(v), 1) for v in values)
                + (
                    " (" + " / ".join(fmt(base_tokens.get(v), 1) for v in values) + ")" if base_tokens else ""
                ),
            ]
            flag = {"front": "front", "dominated": "dominated", "dominated within noise": "within noise"}
            lines.append(
                "| "
                + " | ".join([*cells, flag.get(c.get("front") or "", "yes" if c["pareto"] else "")])
                + " |"
            )
    lines += _length_section(results)
    lines += _breakdown_section(results)
    lines += _judges_section(results)
    lines += _applied(results)
    lines += _provenance(results)
    if results["value_profile"]:
        pci = results.get("value_profile_ci") or {}
        lines += ["", "## Value profile", "", "| value | score in [-1, 1] [95% CI] |", "|---|---|"]
        lines += [f"| {k} | {fmt_ci(v, pci.get(k))} |" for k, v in results["value_profile"].items()]
    mci = results.get("metrics_ci") or {}
    for title, table in (("Metrics", results["metrics"]), ("Timings (s)", results["timings"])):
        if table:
            lines += ["", f"## {title}", "", "| name | value |", "|---|---|"]
            lines += [
                f"| {k} | {fmt_ci(v, mci.get(k)) if table is results['metrics'] else fmt(v)} |"
                for k, v in table.items()
            ]
    for role, record in (results.get("reused") or {}).items():
        if record.get("hit"):  # the timings above do not include measuring it
            lines.append(
                f"\nThe {role} evaluation was read from the user cache ({record['entry']}; measuring it "
                f"took {record['measured_s']:.1f} s where it was measured)."
            )
    lines += _examples(results, samples)
    if artefacts:
        lines += ["", "## Artefacts", ""] + [f"- {k}: `{v}`" for k, v in artefacts.items()]
    return "\n".join(lines) + "\n"

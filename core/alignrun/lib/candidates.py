"""Score a grid of candidate models the same way for every method (mva, dpo soup, mod, conditioned, plugins').

Every candidate is evaluated on the same first ``candidates.eval_prompts`` held-out prompts of each
value (one default for all methods), so two methods' fronts are measured on the same prompts — docs/
comparison.md found that scoring MVA's candidates on 24 prompts and the soup's on all of them alone
made MVA's front look larger. Each candidate records the prompts it was scored on; results.json keeps
their ids, and the sweep report refuses to compare fronts scored on different prompt sets.

``candidates.grid`` puts every adapter-mixing method on the same weights too (:func:`shared_grid`), so
a difference between their fronts is not "where the candidates sit"; :func:`additivity_residual`
measures, on such a grid's corners, how far mixing value vectors is from adding their effects.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from alignrun.contracts import Candidate

if TYPE_CHECKING:
    from alignrun.contracts import Intervention
    from alignrun.lm import LM
    from alignrun.run import Run
    from alignrun.uncertainty import Difference


def candidate_prompts(run: Run) -> int | None:
    """How many held-out prompts per value score each candidate: ``candidates.eval_prompts`` (None: all)."""
    node = run.cfg.get("candidates") or {}
    n = node.get("eval_prompts", None)
    return None if n is None else int(n)


def score_candidates(
    run: Run,
    mixes: Sequence[dict[str, float]],
    intervention: Callable[[dict[str, float]], Intervention],
    label: str,
    lm: LM | None = None,
    max_prompts: int | str | None = "default",
) -> tuple[list[Candidate], float]:
    """Evaluate ``lm`` (default ``run.lm``) under ``steering=`` and ``intervention(mix)`` for each mix.

    Returns the candidates (scores, per-prompt scores, lengths and prompts per value) and the mean
    seconds per candidate. Each candidate's scores are logged as ``<label>/<value>`` with its
    weights as ``<label>/w/<value>``. ``max_prompts``: a method's own override of
    ``candidates.eval_prompts`` (the results then say which prompts; the sweep report warns).
    """
    from tqdm.auto import tqdm

    from alignrun.evaluation import evaluate

    k = candidate_prompts(run) if max_prompts == "default" else max_prompts
    show = bool(run.cfg.generation.progress) and run.is_main_process
    candidates: list[Candidate] = []
    seconds = 0.0
    for mix in tqdm(list(mixes), desc=f"{label} candidates", disable=not show):
        t = time.perf_counter()
        ev = evaluate(run, lm or run.lm, [run.steering, intervention(mix)], profile=False, max_prompts=k)  # type: ignore[arg-type]
        seconds += time.perf_counter() - t
        candidates.append(
            Candidate(
                weights=mix,
                scores=ev.scores,
                per_prompt=ev.per_prompt,
                lengths=ev.lengths,
                prompts={v: g.prompts for v, g in ev.generations.items()},
            )
        )
        run.log(
            {f"{label}/{v}": s for v, s in ev.scores.items()} | {f"{label}/w/{v}": w for v, w in mix.items()}
        )
    return candidates, seconds / max(len(candidates), 1)


def weight_grid(names: Sequence[str], points: Sequence[Sequence[float]]) -> list[dict[str, Any]]:
    """Weight tuples as ``{value: weight}`` mixes, in the order of ``names``."""
    return [dict(zip(names, w, strict=True)) for w in points]


def shared_grid(run: Run, names: Sequence[str]) -> list[dict[str, float]] | None:
    """``candidates.grid``'s weight vectors for ``names``: every combination of its per-value weights,
    in a fixed order (None when unset: the method samples its own). The preflight has checked it
    (:class:`alignrun.schema.CandidatesConfig`)."""
    import itertools

    axis = (run.cfg.get("candidates") or {}).get("grid", None)
    if axis is None:
        return None
    weights = sorted({float(w) for w in axis})
    return weight_grid(names, list(itertools.product(weights, repeat=len(names))))


def additivity_residual(
    candidates: Sequence[Candidate], names: Sequence[str], value: str, seed: int = 0
) -> Difference | None:
    """How far mixing the value vectors is from adding their effects, on ``value``'s prompts.

    With ``s(w)`` a candidate's per-prompt scores, the all-ones candidate against the single vectors
    and the base: ``s(1,…,1) − Σ_i s(e_i) + (n−1)·s(0)``, the all-ones change minus the sum of the single
    vectors' changes. 0: the effects add; below 0: the vectors interfere (what MVA's decorrelation
    claims to reduce). Paired over prompts, with :func:`alignrun.uncertainty.paired_difference`'s
    interval. None when the candidates lack one of those corners.
    """
    import numpy as np

    from alignrun.uncertainty import paired_difference

    def corner(ones: Sequence[str]) -> np.ndarray | None:
        want = {n: 1.0 if n in ones else 0.0 for n in names}
        for c in candidates:
            if {n: float(c.weights.get(n, 0.0)) for n in names} == want and value in c.per_prompt:
                return np.asarray(c.per_prompt[value], dtype=float)
        return None

    found = [corner(names), corner(()), *(corner((n,)) for n in names)]
    if any(f is None for f in found):
        return None
    everything, base, *singles = [f for f in found if f is not None]
    return paired_difference(everything + (len(names) - 1) * base, np.sum(singles, axis=0), seed=seed)


def additivity_metrics(candidates: Sequence[Candidate], names: Sequence[str], label: str) -> dict[str, float]:
    """``<label>/additivity/<value>`` (and ``_lo``/``_hi``, its interval) for each value, where the
    candidates include the corners :func:`additivity_residual` needs."""
    out: dict[str, float] = {}
    for v in names:
        residual = additivity_residual(candidates, names, v)
        if residual is not None:
            out |= {f"{label}/additivity/{v}": residual.estimate}
            out |= {f"{label}/additivity/{v}_lo": residual.lo, f"{label}/additivity/{v}_hi": residual.hi}
    return out

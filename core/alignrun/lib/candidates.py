"""Score a grid of candidate models the same way for every method (mva, dpo soup, mod, conditioned, plugins').

Every candidate is evaluated on the same first ``candidates.eval_prompts`` held-out prompts of each
value (one default for all methods), so two methods' fronts are measured on the same prompts — docs/
comparison.md found that scoring MVA's candidates on 24 prompts and the soup's on all of them alone
made MVA's front look larger. Each candidate records the prompts it was scored on; results.json keeps
their ids, and the sweep report refuses to compare fronts scored on different prompt sets.
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

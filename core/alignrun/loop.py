"""The core loop: configure → build → method → generate + evaluate (steered) → results → finish.

Everything a method needs is set up here once (seed, model, values, data, steering, output
dir, loggers), so method plugins contain only their own algorithm.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pluggy
from omegaconf import DictConfig

from alignrun import run_dir
from alignrun.config import build, build_method, check_config, group_choice, takes_name
from alignrun.contracts import Intervention, MethodResult, Run, Value
from alignrun.degenerate import WarningLog, warn_degenerate
from alignrun.errors import AlignrunError
from alignrun.generation import engine
from alignrun.interventions import NoSteering, describe_intervention
from alignrun.models.adapter import build_lm
from alignrun.plugins import failing_plugin, get_plugin_manager

log = logging.getLogger("alignrun")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy, torch and any accelerator (transformers' ``set_seed``).

    NumPy takes seeds below 2**32 only, so a larger seed is taken modulo 2**32 for all of them.
    """
    from transformers import set_seed

    set_seed(seed % 2**32)


def build_values(cfg: DictConfig) -> dict[str, Value]:
    """Instantiate the ``values`` node; each entry's key becomes the value's ``name``.

    An entry whose target builds a mapping of values (a value system loaded from a file, e.g.
    ``values=[valuebench]``) adds all of them; its target gets no ``name``.
    """
    values: dict[str, Value] = {}
    for name, node in cfg["values"].items():
        built = build(node, **({"name": str(name)} if takes_name(node) else {}), _convert_="all")
        group = dict(built) if isinstance(built, Mapping) else {str(name): built}
        for key, value in group.items():
            if not isinstance(value, Value):
                raise AlignrunError(f"values.{name} must build an alignrun.Value, got {type(value).__name__}")
            if key in values:
                raise AlignrunError(f"value '{key}' is defined twice in values=[...] (values.{name})")
            values[str(key)] = value
    return values


def build_run(cfg: DictConfig, output_dir: Path, pm: pluggy.PluginManager) -> Run:
    """Build model, values, data (derived where a value lacks it), method and steering."""
    from alignrun.derive import Derivation, DeriveConfig
    from alignrun.judges.roles import JudgeConfig, Judging

    values = build_values(cfg)
    derivation = Derivation(DeriveConfig(**cfg.derive), int(cfg.seed))
    derivation.prepare(values)  # eval prompts, scorers, judges: before the data caps see them
    spec = build(cfg.data, _recursive_=False)
    judging = Judging(JudgeConfig(**cfg.judge), set(spec.sources))
    judging.assign(values, derivation.judges)  # cross-fitting: training and evaluator halves, before the caps
    data = spec.prepare(values)  # sources load lazily, see DataSpec
    lm = build_lm(cfg.model)  # + model.adapter folded in, when set
    lm.backend = str(cfg.generation.get("backend") or lm.backend)
    engine(lm.backend)  # a module:function that does not load fails here, before any work
    method = build_method(cfg)
    derivation.pairs(lm, values, data, spec, needed="preference_data" in getattr(method, "needs", ()))
    data.train_prompts = derivation.train_prompts
    steering = build(cfg.steering, _convert_="all")
    if not isinstance(steering, Intervention):
        raise AlignrunError(f"steering '{group_choice(cfg, 'steering')}' has no apply(lm) method")
    profile = cfg.get("profile")
    profiler = build(profile, _convert_="all") if profile and "_target_" in profile else None
    is_main = int(os.environ.get("RANK", "0")) == 0
    return Run(
        cfg=cfg,
        lm=lm,
        values=values,
        data=data,
        method=method,
        steering=steering,
        output_dir=output_dir,
        pm=pm,
        profiler=profiler,
        is_main_process=is_main,
        judges=derivation.judges,
        derived=derivation.record,
        judging=judging.record,
    )


def run_job(
    cfg: DictConfig, output_dir: str | Path, pm: pluggy.PluginManager | None = None
) -> dict[str, Any]:
    """Run one job and return its ``results.json`` content (also written to ``output_dir``).

    Args:
        cfg: a composed alignrun config (``alignrun.config.compose`` or the Hydra CLI's).
        output_dir: where the job writes; created if missing.
        pm: a plugin manager; a fresh one with autoloaded plugins when None.

    Raises:
        AlignrunError: bad config or data (a one-line message; the CLI exits non-zero).
    """
    from alignrun.breakdown import group_breakdown
    from alignrun.eval_samples import sample_rows
    from alignrun.evaluation import Evaluation, evaluate
    from alignrun.judges.report import gate_verdicts, judge_reports
    from alignrun.plots import load_baselines
    from alignrun.results import build_results, finish_candidates, summarise_uncertainty, write_results

    check_config(cfg)
    # read now, not when plotting: a mistyped path must fail before any training or output
    baselines = load_baselines(list(cfg.results.baselines))
    pm = pm or get_plugin_manager()
    out = Path(output_dir)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # under torchrun: rank 0's dir is every rank's
        from alignrun import distributed

        distributed.ensure_initialised()
        out = Path(distributed.broadcast_text(str(out)))
    owner = int(os.environ.get("RANK", "0")) == 0
    if owner:
        run_dir.check_reuse(out, bool(cfg.get("resume")))
        run_dir.claim(out)  # one run per dir: a second one stops here, the first's files untouched
    out.mkdir(parents=True, exist_ok=True)
    run: Run | None = None
    results: dict[str, Any] | None = None
    error: BaseException | None = None
    timings: dict[str, float] = {}
    start = time.perf_counter()
    warned = WarningLog().attach()
    try:
        pm.hook.alignrun_configure(config=cfg)
        for name, node in (cfg.loggers or {}).items():
            pm.register(build(node), name=f"alignrun.logger.{name}")
        seed_everything(int(cfg.seed))
        run = build_run(cfg, out, pm)
        timings["build"] = time.perf_counter() - start
        pm.hook.alignrun_run_start(run=run)

        base: Evaluation | None = None
        if changes_model(run):  # the untouched model's answers: "before" for paired comparisons
            t = time.perf_counter()
            with preserved_rng():  # generation reseeds torch: the method must start where it would have
                base = evaluate(run, run.lm, [], profile=False)
            timings["base"] = time.perf_counter() - t

        t = time.perf_counter()
        outcome = pm.hook.alignrun_run_method(run=run, method=run.method)
        if not isinstance(outcome, MethodResult):
            raise AlignrunError(
                f"method '{group_choice(cfg, 'method')}' returned "
                f"{type(outcome).__name__}, not an alignrun.MethodResult"
            )
        timings["method"] = time.perf_counter() - t

        t = time.perf_counter()
        applied = [] if outcome.replaces_steering else [("steering", run.steering)]
        applied += [("method", outcome.intervention)] if outcome.intervention else []
        evaluation = evaluate(run, outcome.lm, [i for _, i in applied])
        timings["evaluate"] = time.perf_counter() - t

        warn_degenerate(evaluation, base, outcome.candidates)
        names = list(run.values)
        reference = float(cfg.results.hypervolume_reference)
        hv = finish_candidates(outcome.candidates, names, reference)
        uncertainty = summarise_uncertainty(
            evaluation, base, outcome.candidates, names, reference, int(cfg.seed)
        )
        if outcome.candidates and run.is_main_process:
            _plot_candidates(out, names, outcome, baselines)
        run.log({f"eval/{k}": v for k, v in evaluation.scores.items()})
        t = time.perf_counter()
        judge_validity = judge_reports(run)
        checked = verdicts(run)
        gate_verdicts(checked, judge_validity)
        timings["judges"] = time.perf_counter() - t
        timings["total"] = time.perf_counter() - start
        summary = build_results(
            method=group_choice(cfg, "method"),
            model=outcome.lm.name,
            values=names,
            scores=evaluation.scores,
            candidates=outcome.candidates,
            hypervolume=hv,
            value_profile=evaluation.value_profile,
            metrics={
                **outcome.metrics,
                **evaluation.metrics,
                **({f"base/{k}": v for k, v in base.metrics.items()} if base else {}),
            },
            timings=timings,
            derived=run.derived,
            verdicts=checked,
            judges=judge_validity,
            applied=[
                {"by": by, **describe_intervention(i)}
                | ({"replaces_steering": True} if by == "method" and outcome.replaces_steering else {})
                for by, i in applied
            ],
            breakdown=group_breakdown(evaluation, run.data.eval_groups, int(cfg.seed)),
            uncertainty=uncertainty,
            warnings=warned.messages,
        )
        if run.is_main_process:
            write_results(
                out,
                summary,
                reference,
                outcome.artefacts,
                sample_rows(evaluation, base, run.data.eval_groups),
            )
        results = summary  # only once written: run_finish sees results or an error, not both
        return results
    except BaseException as exc:
        error = exc
        raise
    finally:
        try:
            pm.hook.alignrun_run_finish(run=run, results=results, error=error)
        except Exception as exc:  # the run's outcome stands: its results are written, or its error propagates
            who = failing_plugin(exc)
            log.warning(
                "%s failed in alignrun_run_finish%s: %s: %s",
                f"plugin '{who[0]}'" if who else "a plugin",
                " after the results were written" if results is not None else "",
                type(exc).__name__,
                exc,
            )
        finally:
            warned.detach()
            if owner:
                run_dir.release(out)


def changes_model(run: Run) -> bool:
    """Whether the final model can differ from the base: a method that may train or steer
    (``changes_model = False`` on the method says it returns the model as it is) or ``steering=``."""
    return bool(getattr(run.method, "changes_model", True)) or not isinstance(run.steering, NoSteering)


@contextmanager
def preserved_rng() -> Iterator[None]:
    """Python's, NumPy's and torch's random states are as before the block when it ends."""
    import numpy as np
    import torch

    py, nps = random.getstate(), np.random.get_state()
    try:
        with torch.random.fork_rng():
            yield
    finally:
        random.setstate(py)
        np.random.set_state(nps)


def verdicts(run: Run) -> dict[str, dict[str, Any]]:
    """Per value: which judge made its training material (``judge``, None when nothing was judged),
    which scored it (``evaluator``, and its score range), how the pairs were cross-fitted, and whether
    the verdict is circular and why."""
    from alignrun.derive.scorer import describe_scorer, scorer_range
    from alignrun.judges.roles import circularity

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


def _plot_candidates(
    out: Path, values: list[str], outcome: MethodResult, baselines: dict[str, list[dict[str, float]]]
) -> None:
    """Write ``pareto.png`` and list it among the artefacts; a failed plot only warns.

    The plot comes after all the training and evaluation: a rendering problem must not cost
    the run its ``results.json``.
    """
    from alignrun.plots import plot_pareto

    if len(values) < 2:  # a front over one value is a single best score: nothing to draw
        return
    candidates = [{"scores": c.scores, "pareto": c.pareto} for c in outcome.candidates]
    try:
        plot_pareto(values, candidates, out / "pareto.png", baselines)
    except Exception as exc:
        log.warning("pareto.png not written: %s: %s", type(exc).__name__, exc)
        return
    outcome.artefacts["pareto_plot"] = "pareto.png"

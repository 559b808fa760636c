"""The core loop: configure → build → method → generate + evaluate (steered) → results → finish.

Everything a method needs is set up here once (seed, model, values, data, steering, output
dir, loggers), so method plugins contain only their own algorithm.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pluggy
from omegaconf import DictConfig

from alignrun import distributed, run_dir
from alignrun.config import build_method, check_config, group_choice, takes_name
from alignrun.contracts import Intervention, MethodResult, Value
from alignrun.degenerate import WarningLog
from alignrun.errors import AlignrunError
from alignrun.evaluation import Evaluation, evaluate
from alignrun.generation import engine
from alignrun.instantiate import build
from alignrun.models.adapter import build_lm
from alignrun.plugins import failing_plugin, get_plugin_manager
from alignrun.run import Run, changes_model

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
    values = derivation.prepare(values)  # eval prompts, scorers, judges: before the data caps see them
    spec = build(cfg.data, _recursive_=False)
    judging = Judging(JudgeConfig(**cfg.judge), set(spec.sources))
    # cross-fitting: training and evaluator halves, before the caps; the pairs derived below are judged
    # by the training-half twins
    values, derivation.judges = judging.assign(values, derivation.judges)
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
        is_main_process=distributed.rank() == 0,
        judges=derivation.judges,
        derived=derivation.record,
        judging=judging.record,
    )


def run_job(
    cfg: DictConfig, output_dir: str | Path, pm: pluggy.PluginManager | None = None
) -> dict[str, Any]:
    """Run one job and return its ``results.json`` content (also written to ``output_dir``):
    check the config, claim the output dir, build the run, measure the base model, run the method,
    evaluate its final model, hand everything to :func:`alignrun.finish.finish_run`; the
    ``alignrun_run_finish`` hook runs whatever happened.

    Args:
        cfg: a composed alignrun config (``alignrun.config.compose`` or the Hydra CLI's).
        output_dir: where the job writes; created if missing.
        pm: a plugin manager; a fresh one with autoloaded plugins when None.

    Raises:
        AlignrunError: bad config or data (a one-line message; the CLI exits non-zero).
    """
    from alignrun.finish import Measured, finish_run
    from alignrun.plots import load_baselines

    check_config(cfg)
    # read now, not when plotting: a mistyped path must fail before any training or output
    baselines = load_baselines(list(cfg.results.baselines))
    pm = pm or get_plugin_manager()
    out, owner = claim_output_dir(cfg, Path(output_dir))
    run: Run | None = None
    results: dict[str, Any] | None = None
    error: BaseException | None = None
    timings: dict[str, float] = {}
    start = time.perf_counter()
    warned = WarningLog().attach()
    try:
        run = start_run(cfg, out, pm)
        timings["build"] = time.perf_counter() - start
        base = measure_base(run, timings)
        with timed(timings, "method"):
            outcome = run_method(run)
        with timed(timings, "evaluate"):
            applied = [] if outcome.replaces_steering else [("steering", run.steering)]
            applied += [("method", outcome.intervention)] if outcome.intervention else []
            final = evaluate(run, outcome.lm, [i for _, i in applied], reuse=not changes_model(run))
        method = group_choice(cfg, "method")
        measured = Measured(method, outcome, final, base, applied, timings, start, warned.messages, baselines)
        results = finish_run(run, measured)  # only once written: run_finish sees results or an error
        return results
    except BaseException as exc:
        error = exc
        raise
    finally:
        try:
            end_run(pm, run, results, error)
        finally:
            warned.detach()
            if owner:
                run_dir.release(out)


def claim_output_dir(cfg: DictConfig, out: Path) -> tuple[Path, bool]:
    """The job's output dir (rank 0's under torchrun, for every rank) and whether this process owns it:
    the owner checks that it may reuse it (``resume``) and locks it, so a second run stops there and
    leaves the first's files untouched."""
    if distributed.world_size() > 1:
        distributed.ensure_initialised()
        out = Path(distributed.broadcast_text(str(out)))
    owner = distributed.rank() == 0
    if owner:
        run_dir.check_reuse(out, bool(cfg.get("resume")))
        run_dir.claim(out)
    out.mkdir(parents=True, exist_ok=True)
    return out, owner


def start_run(cfg: DictConfig, out: Path, pm: pluggy.PluginManager) -> Run:
    """``alignrun_configure``, the ``loggers=`` plugins, the seed, the run built, ``alignrun_run_start``."""
    pm.hook.alignrun_configure(config=cfg)
    for name, node in (cfg.loggers or {}).items():
        pm.register(build(node), name=f"alignrun.logger.{name}")
    seed_everything(int(cfg.seed))
    from transformers.utils import logging as hf_logging

    # no "Loading weights" bars (a load takes a second or two): the run's own bars and its one
    # error line are what a user reads on stderr
    hf_logging.disable_progress_bar()
    run = build_run(cfg, out, pm)
    pm.hook.alignrun_run_start(run=run)
    return run


def measure_base(run: Run, timings: dict[str, float]) -> Evaluation | None:
    """The untouched model's answers and scores, "before" for the paired comparisons; None when the
    method returns the model as it is and nothing steers it."""
    if not changes_model(run):
        return None
    with timed(timings, "base"), preserved_rng():  # generation reseeds torch: the method starts as it would
        return evaluate(run, run.lm, [], profile=False, reuse=True)


def run_method(run: Run) -> MethodResult:
    """``alignrun_run_method`` (the method's ``fit`` unless a plugin takes over), its outcome checked."""
    outcome = run.pm.hook.alignrun_run_method(run=run, method=run.method)
    if not isinstance(outcome, MethodResult):
        raise AlignrunError(
            f"method '{group_choice(run.cfg, 'method')}' returned "
            f"{type(outcome).__name__}, not an alignrun.MethodResult"
        )
    return outcome


def end_run(
    pm: pluggy.PluginManager, run: Run | None, results: dict[str, Any] | None, error: BaseException | None
) -> None:
    """``alignrun_run_finish``; a plugin failing there only warns: the run's outcome stands (its
    results are written, or its error propagates)."""
    try:
        pm.hook.alignrun_run_finish(run=run, results=results, error=error)
    except Exception as exc:
        who = failing_plugin(exc)
        log.warning(
            "%s failed in alignrun_run_finish%s: %s: %s",
            f"plugin '{who[0]}'" if who else "a plugin",
            " after the results were written" if results is not None else "",
            type(exc).__name__,
            exc,
        )


@contextmanager
def timed(timings: dict[str, float], key: str) -> Iterator[None]:
    """``timings[key]``: the seconds the block took (not set when it raises)."""
    t = time.perf_counter()
    yield
    timings[key] = time.perf_counter() - t


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

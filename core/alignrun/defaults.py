"""The core's default hook implementations: ``trylast``, so any plugin can precede or replace them.

Registered directly by :func:`alignrun.plugins.get_plugin_manager`. Module level stays
torch-free; the work happens in the modules these call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from alignrun.atomic import write_jsonl
from alignrun.hookspecs import hookimpl

if TYPE_CHECKING:
    from alignrun.contracts import Method, MethodResult
    from alignrun.evaluation import Generations, Measured
    from alignrun.lm import LM
    from alignrun.run import Run


@hookimpl(trylast=True)
def alignrun_run_method(run: Run, method: Method) -> MethodResult:
    return method.fit(run)


@hookimpl(trylast=True)
def alignrun_generate(run: Run, lm: LM, prompts: list[str]) -> list[str]:
    from alignrun.schema import GenerationConfig

    return lm.generate(prompts, GenerationConfig(**run.cfg.generation), seed=int(run.cfg.seed))


@hookimpl(trylast=True)
def alignrun_evaluate(
    run: Run, lm: LM, generations: dict[str, Generations], profile: bool
) -> dict[str, Measured]:
    from alignrun.evaluation import PROFILE_PREFIX, score_values

    metrics: dict[str, Measured] = dict(score_values(run.values, generations))
    if profile and run.profiler is not None:
        measured = run.profiler.measure(lm)
        intervals = measured.intervals(int(run.cfg.seed))
        metrics.update({PROFILE_PREFIX + k: intervals.get(k, v) for k, v in measured.scores.items()})
        if run.is_main_process:
            write_jsonl(run.output_dir / "profile.jsonl", measured.details)
    return metrics

"""The run-wide :class:`Run`: everything the core loop built for one job, handed to methods and hooks.

Above the domains (docs/architecture.md, "Layers"): it holds the model, the values, the data, the
method and the steering, so it comes after all of them; :mod:`alignrun.contracts` stays the ground a
plugin's own types stand on. ``alignrun.Run`` re-exports it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alignrun.contracts import Intervention, Method, Scorer, Value
from alignrun.interventions import NoSteering

if TYPE_CHECKING:
    import pluggy
    from omegaconf import DictConfig

    from alignrun.data import RunData
    from alignrun.lm import LM
    from alignrun.profile import ValueProfiler


@dataclass
class Run:
    """Everything the core loop built for one job; methods and hooks read it.

    Args:
        cfg: the composed Hydra config of this job.
        lm: the base model and tokenizer (see :class:`alignrun.lm.LM`).
        values: the chosen values by name, in the order given in ``values=[...]``.
        data: per-value training pairs and eval prompts after the ``data=`` caps.
        method: the instantiated method.
        steering: the ``steering=`` intervention (``none`` is a real no-op intervention).
        output_dir: the Hydra job's output dir; everything the run writes goes here.
        pm: this run's own plugin manager; ``pm.hook`` calls every ``alignrun_*`` hook.
        profiler: measures value profiles (``profile=``); None with ``profile=none``.
        is_main_process: false on DDP ranks other than 0, which must not write outputs.
        judges: per value, the scorer that judges *training* material — derived pairs, an RLHF
            reward — kept apart from ``values[v].scorer``, which evaluates, wherever a disjoint judge
            exists (:mod:`alignrun.derive`).
        derived: per value, the record of what was derived for it (``results.json`` ``derived``);
            a method that trains on a judge marks it, e.g. ``derived[v]["reward"] = True``.
        judging: per value, how its judges were assigned (the cross-fitting split, a ``judge.evaluator``;
            :mod:`alignrun.judges.roles`), merged into ``results.json`` ``verdicts``.
    """

    cfg: DictConfig
    lm: LM
    values: dict[str, Value]
    data: RunData
    method: Method
    steering: Intervention
    output_dir: Path
    pm: pluggy.PluginManager
    profiler: ValueProfiler | None = None
    is_main_process: bool = True
    judges: dict[str, Scorer] = field(default_factory=dict)
    derived: dict[str, dict[str, Any]] = field(default_factory=dict)
    judging: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def hook(self) -> Any:
        """The hook relay: ``run.hook.alignrun_log(run=run, metrics=..., step=...)``."""
        return self.pm.hook

    def log(self, metrics: dict[str, float], step: int | None = None) -> None:
        """Send metrics to every logger (``alignrun_log``); no-op off the main process."""
        if self.is_main_process:
            self.pm.hook.alignrun_log(run=self, metrics=metrics, step=step)


def changes_model(run: Run) -> bool:
    """Whether the final model can differ from the base: a method that may train or steer
    (``changes_model = False`` on the method says it returns the model as it is) or ``steering=``."""
    return bool(getattr(run.method, "changes_model", True)) or not isinstance(run.steering, NoSteering)

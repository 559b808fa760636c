"""The contracts every method, value, scorer and steering intervention meets.

See docs/architecture.md, "Contracts".

They are ``typing.Protocol``s and plain dataclasses: a plugin implements them, it never
inherits from an alignrun base class. Nothing here imports torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import pluggy
    from omegaconf import DictConfig

    from alignrun.data import RunData
    from alignrun.lm import LM
    from alignrun.profile import ValueProfiler


@runtime_checkable
class Scorer(Protocol):
    """Scores responses to prompts for one value; higher means more aligned with it."""

    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> list[float]:
        """Return one float per (prompt, response) pair, same order as the inputs."""
        ...


@dataclass
class Value:
    """One named objective, defined once and used by every method.

    Args:
        name: the key used everywhere (``values=[name]``, ``results.json`` scores).
        description: one or two sentences saying what the value asks of a response.
        weight: its weight where a method combines values (weighted DPO, RLHF reward).
        preference_data: ``datasets.Dataset`` with ``prompt``, ``chosen``, ``rejected`` columns.
        scorer: a :class:`Scorer` used for evaluation and rewards.
        eval_prompts: held-out prompts the final model answers for evaluation.
        questionnaire: yes/no items, each ``{"question": str, "polarity": +1 | -1}``.
        exemplars: short first-person descriptions of behaviour expressing the value (the
            behavioural value profile's classifier is built from them; a value without a scorer
            gets one built from them, see ``docs/values.md``).
        counter_exemplars: the same, for behaviour going against the value (optional contrast).
        prompts: prompts the value's *derived* materials are made from (on-policy pairs, RLHF
            rollouts, steering searches); never evaluated on. None: the bundled scenarios.
        heldout_pairs: labelled ``prompt``/``chosen``/``rejected`` pairs no method trains on; they
            measure how often a judge (a scorer, the judge of derived pairs) agrees with people.
    """

    name: str
    description: str = ""
    weight: float = 1.0
    preference_data: Any = None
    scorer: Scorer | None = None
    eval_prompts: list[str] | None = None
    questionnaire: list[dict[str, Any]] | None = None
    exemplars: list[str] | None = None
    counter_exemplars: list[str] | None = None
    prompts: list[str] | None = None
    heldout_pairs: Any = None


@runtime_checkable
class Intervention(Protocol):
    """Inference-time steering: ``with intervention.apply(lm): ...`` steers, exit restores.

    ``apply`` must undo everything it did on exit, also when the body raises (prompt
    prefixes restored, forward hooks removed).
    """

    def apply(self, lm: LM) -> AbstractContextManager[LM]:
        """Steer ``lm`` inside the ``with`` block; yields the steered LM."""
        ...


@dataclass
class Candidate:
    """One model of a set a method produced (a soup mixture, an MVA extrapolation).

    ``per_prompt``: value -> the per-prompt scores behind ``scores`` (``Evaluation.per_prompt``),
    every candidate on the same prompts; from them the loop gives each candidate intervals, a
    noise-aware front flag and a paired difference against the base model. ``lengths``: value -> the
    answers' lengths in tokens (``Evaluation.lengths``), for the length-controlled scores. ``front`` is that
    flag: ``front``, ``dominated`` or ``dominated within noise`` (set by the loop). ``prompts``: value ->
    the prompts it was scored on (results.json records their ids;
    :func:`alignrun.lib.candidates.score_candidates` fills it).
    """

    weights: dict[str, float]
    scores: dict[str, float] = field(default_factory=dict)
    pareto: bool = False
    path: str | None = None
    per_prompt: dict[str, list[float]] = field(default_factory=dict)
    front: str | None = None
    lengths: dict[str, list[int]] = field(default_factory=dict)
    prompts: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class MethodResult:
    """What ``Method.fit`` hands back to the core loop.

    The final model is ``lm`` under ``intervention``: the loop evaluates exactly that and reports
    ``lm.name`` as ``model``.

    Args:
        lm: the final model. ``run.lm`` when the method changes no weights; any other ``LM`` (a
            fine-tuned copy, a loaded checkpoint) is evaluated instead of the run's. The built-in
            training methods train in place: they wrap ``run.lm.model`` in a PEFT model holding
            every adapter they trained, return ``run.lm``, and choose the adapter mixture the final
            model is made of with ``intervention=AdapterMix(weights)``
            (:mod:`alignrun.lib.training.adapters`).
        intervention: what the final evaluation applies to ``lm`` on top of ``steering=`` (an
            adapter mixture, a chosen prompt, an SAE feature); recorded in ``results.json``
            ``applied``.
        replaces_steering: the method chose the steering itself, starting from what ``steering=``
            asked for (``prompt_steering`` searches from ``steering=value_prompt``'s target): the
            final evaluation applies ``intervention`` *instead of* ``steering=``.
        candidates: a set of models the method produced; the loop fills Pareto flags and
            the hypervolume when the method leaves them out.
        metrics: anything the method measured, merged into ``results.json`` ``metrics``.
        artefacts: names -> paths inside the run dir (adapters, graphs), listed in the report.
    """

    lm: LM
    intervention: Intervention | None = None
    replaces_steering: bool = False
    candidates: list[Candidate] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    artefacts: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class Method(Protocol):
    """An alignment method. It owns its loop; the core loop built everything it needs.

    A method may also have ``needs: tuple[str, ...]``, the materials it cannot run without; with
    ``"preference_data"`` in it, the core loop derives on-policy pairs for values that have none
    (``derive.pairs=auto``). ``changes_model = False`` says ``fit`` returns the model as it is (the
    ``none`` method): the loop then skips measuring the base model before ``fit`` for the
    before/after comparison.
    """

    def fit(self, run: Run) -> MethodResult:
        """Train, search or pick steering for ``run`` and return the outcome."""
        ...


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

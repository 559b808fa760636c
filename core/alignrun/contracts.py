"""The contracts every method, value, scorer and steering intervention meets.

See docs/architecture.md, "Contracts".

They are ``typing.Protocol``s and plain dataclasses: a plugin implements them, it never
inherits from an alignrun base class. Nothing here imports torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from alignrun.lm import LM
    from alignrun.run import Run


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

"""Training phases, the recipe parts LoRA methods share: one adapter alone, or one DPO adapter per value.

A method that trains value vectors is its own idea plus calls: :func:`train_adapters` attaches one
adapter per value, computes each value's reference log-probs, trains the adapters one after another
by DPO on their value's pairs (``method.loss`` picks the preference loss) and saves them as PEFT
folders — ``+method=dpo`` (single, soup), MOD and MVA, whose decorrelation is the ``penalty`` hook.
:func:`train_phase` serves methods that train one adapter on their own objective (dpo ``weighted``
and ``sequential``, conditioned); :func:`~alignrun.lib.training.adapters.save_adapters` saves.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from alignrun.lib.training import adapters
from alignrun.lib.training.adapters import LoraSettings
from alignrun.lib.training.dpo import dpo_objective, preference_set
from alignrun.lib.training.losses import LossSettings
from alignrun.lib.training.trainer import LossFn, Trainer, TrainSettings
from alignrun.run import Run

# (value's position in the training order, value, its DPO loss) -> the loss the Trainer minimises
Penalty = Callable[[int, str, LossFn], LossFn]
log = logging.getLogger("alignrun")


@dataclass
class TrainedAdapters:
    """What :func:`train_adapters` leaves: the PEFT model (also ``run.lm.model``) holding one adapter
    per value, the phases' last-step metrics, and ``adapter/<value>`` -> its folder in the run dir."""

    model: Any
    metrics: dict[str, float]
    artefacts: dict[str, str]


def train_phase(
    run: Run,
    model: Any,
    adapter: str,
    loss_fn: LossFn,
    settings: TrainSettings,
    tag: str,
    steps: int | None = None,
) -> dict[str, float]:
    """Train adapter ``adapter`` of ``model`` alone on ``loss_fn`` (``steps``, default ``settings.steps``).

    ``tag`` names the phase (checkpoints in ``checkpoints/<tag>/``, metrics ``train/<tag>/...``), so
    a resumed run finds the phase's checkpoint by it. Returns the last step's metrics.
    """
    params = adapters.train_only(model, adapter)
    model.train()
    metrics = Trainer(run, tag, params, settings).fit(loss_fn, steps)
    model.eval()
    return metrics


def train_adapters(
    run: Run,
    names: Sequence[str],
    *,
    beta: float,
    lora: LoraSettings,
    train: TrainSettings,
    loss: LossSettings,
    tag: str = "{value}",
    penalty: Callable[[Any], Penalty] | None = None,
    given: Mapping[str, str] | None = None,
    given_setting: str = "method.vectors",
) -> TrainedAdapters:
    """One LoRA adapter per value in ``names``, trained in that order by DPO against the frozen base.

    Every adapter is attached before any trains (LoRA's random init draws from the global torch RNG
    in this order) and every value's reference log-probs are computed before the first step (the
    base model with adapters disabled: the same numbers at any point, and missing or bad data fails
    before any training). Value ``i`` trains with ``train.steps`` optimizer steps on its own pairs,
    its batches seeded by ``run.cfg.seed``.

    Args:
        run: the run; its model gets the adapters (``run.lm.model`` becomes the PEFT model).
        names: the values, in training order; each needs pairs in ``run.data.pairs``.
        beta: the preference loss's inverse temperature (``method.beta``).
        lora, train, loss: the ``method.lora``, ``method.train`` and ``method.loss`` settings.
        tag: each phase's name, formatted with ``index`` and ``value`` (``"mva-{index}-{value}"``).
        penalty: called once with the PEFT model (every adapter attached); what it returns turns value
            ``i``'s DPO loss into the loss trained (MVA adds its decorrelation against values ``< i``).
        given: value -> saved adapter folder: that value's vector is loaded, not trained (its phase
            is skipped; the later phases train exactly as if it had trained here: each step's batch
            and random draws depend only on the seed and the step). ``given_setting`` names the key.

    Returns:
        The model, the last step's metrics of every phase, and the saved adapters' folders.
    """
    lm, seed = run.lm, int(run.cfg.seed)
    model = adapters.attach(lm, list(names), lora)
    extra = penalty(model) if penalty is not None else None
    given = dict(given or {})
    sets = {n: preference_set(lm, n, run.data.pairs[n], train, loss) for n in names if n not in given}
    for i, n in enumerate(names):  # before any phase trains: a vector that does not fit fails first
        if n in given:
            adapters.load_weights(model, n, given[n], lora, f"{given_setting}.{n}")
            log.info("%s: loaded from %s, not trained", tag.format(index=i, value=n), given[n])
    metrics: dict[str, float] = {}
    for i, n in enumerate(names):
        if n in given:
            continue
        objective = dpo_objective(lm, [(sets[n], 1.0)], beta, train, seed, loss)
        if extra is not None:
            objective = extra(i, n, objective)
        metrics.update(train_phase(run, model, n, objective, train, tag.format(index=i, value=n)))
    return TrainedAdapters(model, metrics, adapters.save_adapters(run, model, names))

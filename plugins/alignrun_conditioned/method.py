"""``+method=conditioned``: one LoRA adapter for every trade-off, chosen at inference (Panacea-style).

Why Panacea's conditioning and not Rewards-in-Context's: the preference vector sits in the adapter's
singular values (:mod:`alignrun_conditioned.preference`), so the frozen reference never sees it and
every value's DPO reference log-probs are computed once, as for the other DPO methods; RiC conditions
the prompt, which changes the reference's input for every sampled vector, and trains by supervised
fine-tuning on reward-labelled responses that alignrun's values do not have.

1. One adapter of rank ``shared_rank + #values``, gated by the preference vector ``λ``.
2. Each optimizer step draws ``λ`` uniformly from the simplex (seeded by the step, so a resumed run
   draws the same) and minimises Panacea's linear scalarisation ``Σ_v λ_v · L_DPO(v)`` with every
   value's batch under that ``λ``; ``train.steps × #values`` steps: the per-value budget of the
   other DPO methods, one training in all.
3. Candidates: the same adapter queried at every weight vector of a simplex grid; the loop adds Pareto
   flags, intervals and the hypervolume. The final model is the uniform vector.

Torch-free at import.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from alignrun.contracts import MethodResult
from alignrun.errors import AlignrunError
from alignrun.lib.candidates import score_candidates, weight_grid
from alignrun.lib.weights import simplex_grid
from alignrun.run import Run
from alignrun.settings import build_settings, from_yaml, signature_from

ADAPTER = "conditioned"


@signature_from("method/conditioned.yaml")
class Conditioned:
    """Args: see ``conf/method/conditioned.yaml`` (every knob is commented there)."""

    needs = ("preference_data",)

    def __init__(
        self,
        shared_rank: int = from_yaml(),
        weight_step: float = from_yaml(),
        eval_prompts: int | None = 24,
        beta: float = from_yaml(),
        lora: dict[str, Any] | None = None,
        train: dict[str, Any] | None = None,
        loss: dict[str, Any] | None = None,
    ) -> None:
        from alignrun.lib.training.adapters import LoraSettings
        from alignrun.lib.training.losses import LossSettings, check_beta
        from alignrun.lib.training.trainer import TrainSettings

        if shared_rank < 0:
            raise AlignrunError(f"method.shared_rank must be >= 0, got {shared_rank}")
        check_beta(beta)
        if eval_prompts is not None and eval_prompts < 1:
            raise AlignrunError(f"method.eval_prompts must be >= 1 or null (all), got {eval_prompts}")
        simplex_grid(2, weight_step, "method.weight_step")
        self.shared_rank, self.weight_step, self.eval_prompts, self.beta = (
            shared_rank,
            weight_step,
            eval_prompts,
            beta,
        )
        self.lora = build_settings(LoraSettings, lora, "method.lora")
        self.train = build_settings(TrainSettings, train, "method.train")
        self.loss = build_settings(LossSettings, loss, "method.loss")

    def fit(self, run: Run) -> MethodResult:

        from alignrun.lib.training import adapters
        from alignrun.lib.training.dpo import dpo_objective, preference_set
        from alignrun.lib.training.phases import train_phase
        from alignrun_conditioned.preference import Preference, PreferenceGate, sampled_preference

        names = list(run.values)
        if len(names) < 2:
            raise AlignrunError("+method=conditioned trades values off; give at least two in values=[...]")
        missing = [n for n in names if n not in run.data.pairs]
        if missing:
            raise AlignrunError(f"value(s) {', '.join(missing)} have no preference data")
        lm, seed = run.lm, int(run.cfg.seed)
        # the rank is the shared directions plus one per value (method.lora.r is not used)
        lora = dataclasses.replace(self.lora, r=self.shared_rank + len(names))
        model = adapters.attach(lm, [ADAPTER], lora)
        gate = PreferenceGate(model, ADAPTER, names, self.shared_rank)
        sets = [preference_set(lm, n, run.data.pairs[n], self.train, self.loss) for n in names]

        def loss_fn(step: int, start: int, stop: int) -> Any:
            preference = sampled_preference(len(names), step, seed)
            gate.set(dict(zip(names, preference, strict=True)))
            parts = list(zip(sets, preference, strict=True))
            return dpo_objective(lm, parts, self.beta, self.train, seed, self.loss)(step, start, stop)

        steps = self.train.steps * len(names)
        metrics = train_phase(run, model, ADAPTER, loss_fn, self.train, ADAPTER, steps)
        artefacts = adapters.save_adapters(run, model, [ADAPTER])

        grid = weight_grid(names, simplex_grid(len(names), self.weight_step))
        candidates, _ = score_candidates(
            run, grid, lambda mix: Preference(gate, ADAPTER, mix), "conditioned", lm=lm,
            max_prompts=self.eval_prompts,
        )  # fmt: skip
        metrics["conditioned/rank"] = float(lora.r)
        uniform = {n: 1.0 / len(names) for n in names}
        return MethodResult(
            lm=lm,
            intervention=Preference(gate, ADAPTER, uniform),
            candidates=candidates,
            metrics=metrics,
            artefacts=artefacts,
        )

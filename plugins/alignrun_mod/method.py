"""``+method=mod``: multi-objective decoding over per-value LoRA adapters (MOD, Shi et al. 2024).

1. One adapter per value: loaded from ``method.adapters`` (value -> a PEFT folder, e.g. a DPO run's
   ``adapters/<value>``), or trained here exactly as ``+method=dpo method.variant=soup`` trains its
   ingredients (DPO on the value's pairs against the frozen base, ``train.steps`` steps each), so
   MOD and the soup combine the same adapters.
2. Candidates: every weight vector of a simplex grid (``method.weight_step``), each decoded as the
   token-level composition :class:`~alignrun_mod.decoding.Composition` — no merging, any weight
   served by the same adapters — scored on ``method.eval_prompts`` prompts per value; the loop adds
   Pareto flags, intervals and the hypervolume.
3. The final model is the uniform composition (as the soup's final model is the uniform mixture).

Torch-free at import.
"""

from __future__ import annotations

from typing import Any

from alignrun.contracts import MethodResult
from alignrun.errors import AlignrunError
from alignrun.lib.candidates import score_candidates, weight_grid
from alignrun.lib.weights import simplex_grid
from alignrun.run import Run
from alignrun.settings import build_settings, from_yaml, signature_from
from alignrun_mod.decoding import RULES, Composition


@signature_from("method/mod.yaml")
class MOD:
    """Args: see ``conf/method/mod.yaml`` (every knob is commented there)."""

    needs = ("preference_data",)  # for the adapters trained here; given folders need none

    def __init__(
        self,
        rule: str = from_yaml(),
        adapters: dict[str, str] | None = None,
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

        if rule not in RULES:
            raise AlignrunError(f"method.rule must be one of {', '.join(RULES)}, got '{rule}'")
        check_beta(beta)
        if eval_prompts is not None and eval_prompts < 1:
            raise AlignrunError(f"method.eval_prompts must be >= 1 or null (all), got {eval_prompts}")
        simplex_grid(2, weight_step, "method.weight_step")  # a bad step fails now, not after training
        self.rule, self.weight_step, self.eval_prompts, self.beta = rule, weight_step, eval_prompts, beta
        self.adapters = dict(adapters or {})
        self.lora = build_settings(LoraSettings, lora, "method.lora")
        self.train = build_settings(TrainSettings, train, "method.train")
        self.loss = build_settings(LossSettings, loss, "method.loss")

    def fit(self, run: Run) -> MethodResult:

        names = list(run.values)
        if len(names) < 2:
            raise AlignrunError("+method=mod combines several values; give at least two in values=[...]")
        unknown = sorted(set(self.adapters) - set(names))
        if unknown:
            raise AlignrunError(
                f"method.adapters names {', '.join(unknown)}, not among the run's values ({', '.join(names)})"
            )
        metrics, artefacts = self._adapters(run, names)
        grid = weight_grid(names, simplex_grid(len(names), self.weight_step))
        candidates, seconds = score_candidates(
            run, grid, lambda mix: Composition(mix, self.rule), "mod", max_prompts=self.eval_prompts
        )
        metrics["mod/candidate_seconds"] = seconds
        uniform = {n: 1.0 / len(names) for n in names}
        return MethodResult(
            lm=run.lm,
            intervention=Composition(uniform, self.rule),
            candidates=candidates,
            metrics=metrics,
            artefacts=artefacts,
        )

    def _adapters(self, run: Run, names: list[str]) -> tuple[dict[str, float], dict[str, str]]:
        """Give ``run.lm`` one adapter per value (loaded or trained); their metrics and artefacts."""
        from alignrun.lib.training import adapters
        from alignrun.lib.training.phases import train_adapters

        metrics: dict[str, float] = {}
        artefacts: dict[str, str] = {}
        for n in names:
            if n in self.adapters:
                adapters.load_adapter(run.lm, n, self.adapters[n])
                artefacts[f"adapter/{n}"] = str(self.adapters[n])
        trained = [n for n in names if n not in self.adapters]
        if trained:
            missing = [n for n in trained if n not in run.data.pairs]
            if missing:
                raise AlignrunError(
                    f"value(s) {', '.join(missing)} have no preference data and no method.adapters folder"
                )
            # as the dpo soup trains its ingredients: same order, tags and seeds
            out = train_adapters(
                run, trained, beta=self.beta, lora=self.lora, train=self.train, loss=self.loss
            )
            metrics.update(out.metrics)
            artefacts.update(out.artefacts)
        return metrics, artefacts

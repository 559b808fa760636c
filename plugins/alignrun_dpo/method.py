"""``+method=dpo``: the DPO baselines every multi-value paper compares against.

Variants (each value gets the same training budget, ``train.steps`` optimizer steps):

- ``single``: one adapter trained on one value's pairs (``method.value``, default the first).
- ``weighted``: one adapter, loss ``Σ_v w_v · L_DPO(v)`` with ``w_v = weight_v / Σ weight``
  (loss-weighted DPO); ``train.steps × #values`` steps, every step sees every value.
- ``sequential``: one adapter trained on the values one after another (each stage
  ``train.steps`` steps, a fresh optimizer per stage).
- ``soup``: one adapter per value, then weight interpolation on the simplex — Rewarded Soups
  (Ramé et al. 2023) with DPO adapters: ``base + Σ_i λ_i ΔW_i``, ``Σ λ_i = 1``. Every grid
  point is evaluated, Pareto-flagged, and reported as a candidate; the uniform mixture is
  the run's final model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alignrun.contracts import Candidate, Intervention, MethodResult
from alignrun.errors import AlignrunError
from alignrun.lib.weights import simplex_grid
from alignrun.run import Run
from alignrun.settings import build_settings, from_yaml, signature_from

VARIANTS = ("single", "weighted", "sequential", "soup")


@signature_from("method/dpo.yaml")
class DPO:
    """Args: see ``conf/method/dpo.yaml`` (every knob is commented there)."""

    needs = ("preference_data",)  # the core loop derives on-policy pairs for values without any

    def __init__(
        self,
        variant: str = from_yaml(),
        value: str | None = from_yaml(),
        beta: float = from_yaml(),
        soup_step: float = from_yaml(),
        merge: bool = from_yaml(),
        lora: dict[str, Any] | None = None,
        train: dict[str, Any] | None = None,
        loss: dict[str, Any] | None = None,
    ) -> None:
        from alignrun.lib.training.adapters import LoraSettings
        from alignrun.lib.training.losses import LossSettings, check_beta
        from alignrun.lib.training.trainer import TrainSettings

        if variant not in VARIANTS:
            raise AlignrunError(f"method.variant must be one of {', '.join(VARIANTS)}, got '{variant}'")
        check_beta(beta)
        if variant == "soup":
            simplex_grid(2, soup_step)  # a bad step fails now, not after every adapter trained
        self.variant, self.value, self.beta, self.soup_step, self.merge = (
            variant,
            value,
            beta,
            soup_step,
            merge,
        )
        self.lora = build_settings(LoraSettings, lora, "method.lora")
        self.train = build_settings(TrainSettings, train, "method.train")
        self.loss = build_settings(LossSettings, loss, "method.loss")

    def _values(self, run: Run) -> list[str]:
        names = [self.value] if self.variant == "single" and self.value else list(run.values)
        if self.variant == "single":
            names = names[:1]
        for n in names:
            if n not in run.values:
                raise AlignrunError(
                    f"method.value '{n}' is not among the run's values ({', '.join(run.values)})"
                )
            if n not in run.data.pairs:
                raise AlignrunError(
                    f"value '{n}' has no preference data; DPO needs prompt/chosen/rejected pairs"
                )
        if self.variant == "soup" and len(names) < 2:
            raise AlignrunError("method.variant=soup needs at least two values")
        return names

    def fit(self, run: Run) -> MethodResult:
        from alignrun.lib.training.adapters import AdapterMix
        from alignrun.lib.training.phases import train_adapters

        names = self._values(run)
        if self.variant in ("single", "soup"):  # one adapter per value
            trained = train_adapters(
                run, names, beta=self.beta, lora=self.lora, train=self.train, loss=self.loss
            )
            model, metrics, artefacts = trained.model, trained.metrics, trained.artefacts
            final = {n: 1.0 for n in names}
        else:  # one adapter for every value, on its own schedule
            model, metrics, artefacts = self._one_adapter(run, names)
            final = {self.variant: 1.0}
        candidates: list[Candidate] = []
        if self.variant == "soup":
            from alignrun.lib.candidates import additivity_metrics, score_candidates, shared_grid, weight_grid

            grid = shared_grid(run, names) or weight_grid(names, simplex_grid(len(names), self.soup_step))
            candidates, _ = score_candidates(run, grid, AdapterMix, "soup", lm=run.lm)
            metrics.update(additivity_metrics(candidates, names, "soup"))  # where the grid has the corners
            final = {n: 1.0 / len(names) for n in names}
        intervention: Intervention = AdapterMix(final)
        if self.merge and run.is_main_process:
            artefacts["merged"] = str(write_merged(run, model, final).relative_to(run.output_dir))
        return MethodResult(
            lm=run.lm, intervention=intervention, candidates=candidates, metrics=metrics, artefacts=artefacts
        )

    def _one_adapter(self, run: Run, names: list[str]) -> tuple[Any, dict[str, float], dict[str, str]]:
        """``weighted``: one phase on every value's loss at once; ``sequential``: one phase per value
        (a fresh optimizer each), the same adapter throughout."""
        from alignrun.lib.training import adapters
        from alignrun.lib.training.dpo import dpo_objective, preference_set
        from alignrun.lib.training.phases import train_phase

        lm, seed, adapter = run.lm, int(run.cfg.seed), self.variant
        model = adapters.attach(lm, [adapter], self.lora)
        sets = {n: preference_set(lm, n, run.data.pairs[n], self.train, self.loss) for n in names}
        metrics: dict[str, float] = {}

        def objective(parts: list[tuple[Any, float]]) -> Any:
            return dpo_objective(lm, parts, self.beta, self.train, seed, self.loss)

        if self.variant == "weighted":
            total_weight = sum(run.values[n].weight for n in names)
            parts = [(sets[n], run.values[n].weight / total_weight) for n in names]
            steps = self.train.steps * len(names)
            metrics.update(train_phase(run, model, adapter, objective(parts), self.train, "weighted", steps))
        else:  # sequential
            for i, n in enumerate(names):
                tag = f"sequential-{i}-{n}"
                metrics.update(train_phase(run, model, adapter, objective([(sets[n], 1.0)]), self.train, tag))
        return model, metrics, adapters.save_adapters(run, model, [adapter])


def write_merged(run: Run, model: Any, weights: dict[str, float]) -> Path:
    """Save ``base + Σ w_i ΔW_i`` as a plain transformers checkpoint (safetensors) in ``merged/``."""
    import copy

    from alignrun.atomic import atomic_write_dir
    from alignrun.lib.training.adapters import mixed

    def write(folder: Path) -> None:
        clone = copy.deepcopy(model)
        with mixed(clone, weights):
            merged = clone.merge_and_unload()
        merged.save_pretrained(folder, safe_serialization=True)
        run.lm.tokenizer.save_pretrained(folder)

    target = run.output_dir / "merged"
    atomic_write_dir(target, write)  # a resumed run's merged/ is replaced, never half-written
    return target

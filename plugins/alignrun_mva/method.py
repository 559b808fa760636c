"""``+method=mva``: Multi-Value Alignment by value decorrelation and value extrapolation.

MVA (arXiv 2511.17579), top to bottom:

1. **Value vectors.** One LoRA adapter ``θ_i`` per value, trained one after another by DPO on
   that value's pairs against the frozen base model (the model during phase ``i`` is
   ``base + θ_i``; reference log-probs from the base, computed once per value).
2. **Decorrelation.** While training ``θ_i`` the loss is
   ``L_DPO(θ_i) + alpha · Σ_{j<i} D(θ_i, θ_j)`` with the earlier vectors frozen; ``D`` is
   ``method.decorrelation`` (see :mod:`alignrun_mva.decorrelation`).
3. **Extrapolation.** Candidates ``base + Σ_i w_i θ_i``, ``w_i ∈ [0, C]`` each, applied by
   rescaling the adapters in place; every candidate is evaluated on every value's held-out
   prompts, the non-dominated ones are saved (one loadable PEFT folder each), and the run's
   final model is the candidate with the best value-weighted mean score.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from alignrun.contracts import Candidate, MethodResult
from alignrun.errors import AlignrunError
from alignrun.run import Run
from alignrun.settings import build_settings, check_fields, ranged

ESTIMATORS = (
    "delta_w",
    "lora_a",
    "orthogonal",
    "none",
)  # mirrors alignrun_mva.decorrelation (torch-free here)


@dataclass
class ExtrapolationSettings:
    """The ``method.extrapolation`` node (see conf/method/mva.yaml)."""

    max_weight: float = ranged(1.0, gt=0)
    sampler: str = "halton"
    points: int = ranged(3, ge=2)  # a grid needs both ends of [0, C]
    num_candidates: int = ranged(6, ge=0)
    eval_prompts: int | None = ranged(24, ge=1)  # candidates.eval_prompts in the YAML
    fold: bool = True
    save_pareto: bool = True

    def __post_init__(self) -> None:
        from alignrun_mva.extrapolation import SAMPLERS

        check_fields(self, "method.extrapolation")
        if self.sampler not in SAMPLERS:
            raise AlignrunError(
                f"method.extrapolation.sampler must be one of {', '.join(SAMPLERS)}, got '{self.sampler}'"
            )


@dataclass
class MVA:
    """Args: see ``conf/method/mva.yaml`` (every knob is commented there)."""

    needs = ("preference_data",)  # the core loop derives on-policy pairs for values without any

    decorrelation: str = "delta_w"
    alpha: float = 1.0
    bandwidth: float | str = "median"
    max_samples: int | None = 1024
    beta: float = 0.1
    lora: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    loss: dict[str, Any] = field(default_factory=dict)
    extrapolation: dict[str, Any] = field(default_factory=dict)
    ext: ExtrapolationSettings = field(init=False)

    def __post_init__(self) -> None:
        if self.decorrelation not in ESTIMATORS:
            raise AlignrunError(
                f"method.decorrelation must be one of {', '.join(ESTIMATORS)}, got '{self.decorrelation}'"
            )
        if self.alpha < 0:
            raise AlignrunError(f"method.alpha must be >= 0, got {self.alpha}")
        if self.beta <= 0:
            raise AlignrunError(f"method.beta must be > 0, got {self.beta}")
        if isinstance(self.bandwidth, str) and self.bandwidth != "median":
            raise AlignrunError(f"method.bandwidth must be 'median' or a number > 0, got '{self.bandwidth}'")
        if not isinstance(self.bandwidth, str) and self.bandwidth <= 0:
            raise AlignrunError(f"method.bandwidth must be 'median' or a number > 0, got {self.bandwidth}")
        from alignrun.lib.training.adapters import LoraSettings
        from alignrun.lib.training.losses import LossSettings
        from alignrun.lib.training.trainer import TrainSettings

        self.ext = build_settings(ExtrapolationSettings, self.extrapolation, "method.extrapolation")
        # checked now, not when training starts after the model has loaded and the base is evaluated
        build_settings(TrainSettings, self.train, "method.train")
        build_settings(LoraSettings, self.lora, "method.lora")
        build_settings(LossSettings, self.loss, "method.loss")

    def _values(self, run: Run) -> list[str]:
        names = list(run.values)
        if len(names) < 2:
            raise AlignrunError("method=mva needs at least two values, e.g. values=[helpful,harmless]")
        missing = [n for n in names if n not in run.data.pairs]
        if missing:
            raise AlignrunError(
                f"value(s) {', '.join(missing)} have no preference data; MVA trains each value "
                "vector by DPO on prompt/chosen/rejected pairs"
            )
        return names

    def fit(self, run: Run) -> MethodResult:
        from alignrun.lib.training.adapters import AdapterMix
        from alignrun.results import finish_candidates
        from alignrun_mva.extrapolation import sample_weights

        names = self._values(run)
        weights = sample_weights(
            names, self.ext.sampler, self.ext.max_weight, self.ext.points, self.ext.num_candidates
        )
        model, metrics = self.train_value_vectors(run, names)
        candidates = self.evaluate_candidates(run, weights)
        finish_candidates(candidates, names, float(run.cfg.results.hypervolume_reference))
        artefacts: dict[str, str] = {}
        if run.is_main_process:
            artefacts.update(self.save(run, model, names, candidates))
        final = max(candidates, key=lambda c: sum(run.values[v].weight * c.scores[v] for v in names)).weights
        metrics.update({f"mva/final_weight/{v}": w for v, w in final.items()})
        return MethodResult(
            lm=run.lm,
            intervention=AdapterMix(final, merge=self.ext.fold),
            candidates=candidates,
            metrics=metrics,
            artefacts=artefacts,
        )

    # -- 1 + 2: value vectors, decorrelated ------------------------------------------
    def train_value_vectors(self, run: Run, names: list[str]) -> tuple[Any, dict[str, float]]:
        """Train one adapter per value in order; returns the PEFT model and final metrics."""
        from alignrun.lib.training import adapters
        from alignrun.lib.training.dpo import dpo_objective, preference_set
        from alignrun.lib.training.losses import LossSettings
        from alignrun.lib.training.trainer import Trainer, TrainSettings
        from alignrun_mva.decorrelation import Decorrelation, pairwise

        settings = TrainSettings(**self.train)
        loss = LossSettings(**self.loss)
        lm, seed = run.lm, int(run.cfg.seed)
        model = adapters.attach(lm, names, adapters.LoraSettings(**self.lora))
        penalty = Decorrelation(model, self.decorrelation, self.bandwidth, self.max_samples, seed)
        metrics: dict[str, float] = {}
        for i, name in enumerate(names):
            data = preference_set(lm, name, run.data.pairs[name], settings, loss)
            params = adapters.train_only(model, name)
            model.train()
            dpo = dpo_objective(lm, [(data, 1.0)], self.beta, settings, seed, loss)
            loss_fn = decorrelated(dpo, penalty, name, names[:i], self.alpha, settings.batch_size)
            metrics.update(Trainer(run, f"mva-{i}-{name}", params, settings).fit(loss_fn))
        model.eval()
        for estimator in ("delta_w", "lora_a"):  # measured dependence, whatever trained the vectors
            pairs = pairwise(model, names, estimator)
            metrics.update({f"mva/hsic_{estimator}/{k}": v for k, v in pairs.items()})
        return model, metrics

    # -- 3: extrapolation ------------------------------------------------------------
    def evaluate_candidates(self, run: Run, weights: list[dict[str, float]]) -> list[Candidate]:
        """Score ``base + Σ w_i θ_i`` for every weight vector on every value's held-out prompts."""
        from alignrun.lib.candidates import score_candidates
        from alignrun.lib.training.adapters import AdapterMix

        candidates, _ = score_candidates(
            run,
            weights,
            lambda mix: AdapterMix(mix, merge=self.ext.fold),
            "mva",
            max_prompts=self.ext.eval_prompts,
        )
        return candidates

    def save(self, run: Run, model: Any, names: list[str], candidates: list[Candidate]) -> dict[str, str]:
        """Value vectors to ``adapters/<value>/``; each Pareto candidate to ``pareto/<k>/``."""
        from alignrun.lib.training.adapters import save_adapter
        from alignrun_mva.extrapolation import save_candidate

        out = run.output_dir
        artefacts = {}
        for n in names:
            artefacts[f"adapter/{n}"] = str(save_adapter(model, n, out / "adapters" / n).relative_to(out))
        if self.ext.save_pareto:
            front = [c for c in candidates if c.pareto]
            for k, c in enumerate(front):
                c.path = str(save_candidate(model, c.weights, out / "pareto" / f"{k:03d}").relative_to(out))
            artefacts["pareto_set"] = f"pareto/ ({len(front)} PEFT folders)"
        return artefacts


def decorrelated(
    dpo: Any, penalty: Any, current: str, earlier: list[str], alpha: float, batch_size: int
) -> Any:
    """``loss_fn`` for the Trainer: DPO plus ``alpha · penalty(current, earlier)``.

    The penalty is a per-step term; each micro-batch (and rank) adds its share
    ``(stop - start) / batch_size`` so the step's gradients sum to exactly one penalty.
    With no earlier vectors (the first value) or ``decorrelation=none`` this is plain DPO.
    """
    if not earlier or penalty.estimator == "none":
        return dpo

    def loss_fn(step: int, start: int, stop: int) -> Any:
        loss, parts = dpo(step, start, stop)
        share = (stop - start) / batch_size
        value = penalty.penalty(current, earlier)
        parts["decorrelation"] = float(value.detach()) * share  # summed over micro-batches: the step's
        return loss + alpha * share * value, parts

    return loss_fn

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

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from alignrun.contracts import Candidate, MethodResult
from alignrun.errors import AlignrunError
from alignrun.run import Run
from alignrun.schema import CandidatesConfig
from alignrun.settings import build_settings, check_fields, defaults_from, from_yaml, ranged

if TYPE_CHECKING:
    from alignrun.lib.training.phases import TrainedAdapters

ESTIMATORS = (
    "delta_w",
    "lora_a",
    "orthogonal",
    "none",
)  # mirrors alignrun_mva.decorrelation (torch-free here)
REDUCTIONS = ("mean", "sum")  # likewise


@dataclass
@defaults_from("method/mva.yaml", "extrapolation", own=("eval_prompts",))
class ExtrapolationSettings:
    """The ``method.extrapolation`` node (its defaults: conf/method/mva.yaml)."""

    max_weight: float = from_yaml(gt=0)
    sampler: str = from_yaml()
    points: int = from_yaml(ge=2)  # a grid needs both ends of [0, C]
    num_candidates: int = from_yaml(ge=0)
    # the YAML defers to ${candidates.eval_prompts}, which Python has no run config to resolve; the
    # shared default is read from where that lives
    eval_prompts: int | None = ranged(CandidatesConfig().eval_prompts, ge=1)
    fold: bool = from_yaml()
    save_pareto: bool = from_yaml()

    def __post_init__(self) -> None:
        from alignrun_mva.extrapolation import SAMPLERS

        check_fields(self, "method.extrapolation")
        if self.sampler not in SAMPLERS:
            raise AlignrunError(
                f"method.extrapolation.sampler must be one of {', '.join(SAMPLERS)}, got '{self.sampler}'"
            )


@dataclass
@defaults_from("method/mva.yaml")
class MVA:
    """Args: see ``conf/method/mva.yaml`` (every knob and its default is there)."""

    needs = ("preference_data",)  # the core loop derives on-policy pairs for values without any

    decorrelation: str = from_yaml()
    alpha: float = from_yaml()
    bandwidth: float | str = from_yaml()
    max_samples: int | None = from_yaml()
    reduce: str = from_yaml()
    beta: float = from_yaml()
    lora: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    loss: dict[str, Any] = field(default_factory=dict)
    extrapolation: dict[str, Any] = field(default_factory=dict)
    vectors: dict[str, str] = field(default_factory=dict)
    ext: ExtrapolationSettings = field(init=False)

    def __post_init__(self) -> None:
        if self.decorrelation not in ESTIMATORS:
            raise AlignrunError(
                f"method.decorrelation must be one of {', '.join(ESTIMATORS)}, got '{self.decorrelation}'"
            )
        if self.alpha < 0:
            raise AlignrunError(f"method.alpha must be >= 0, got {self.alpha}")
        if self.reduce not in REDUCTIONS:
            raise AlignrunError(f"method.reduce must be one of {', '.join(REDUCTIONS)}, got '{self.reduce}'")
        from alignrun.lib.training.adapters import LoraSettings
        from alignrun.lib.training.losses import LossSettings, check_beta
        from alignrun.lib.training.trainer import TrainSettings

        check_beta(self.beta)
        if isinstance(self.bandwidth, str) and self.bandwidth != "median":
            raise AlignrunError(f"method.bandwidth must be 'median' or a number > 0, got '{self.bandwidth}'")
        if not isinstance(self.bandwidth, str) and self.bandwidth <= 0:
            raise AlignrunError(f"method.bandwidth must be 'median' or a number > 0, got {self.bandwidth}")

        from alignrun.models.adapter import adapter_folder

        for value, folder in self.vectors.items():  # said before the model loads
            adapter_folder(str(folder), f"method.vectors.{value}")
        self.ext = build_settings(ExtrapolationSettings, self.extrapolation, "method.extrapolation")
        # checked now, not when training starts after the model has loaded and the base is evaluated
        build_settings(TrainSettings, self.train, "method.train")
        build_settings(LoraSettings, self.lora, "method.lora")
        build_settings(LossSettings, self.loss, "method.loss")

    def _values(self, run: Run) -> list[str]:
        names = list(run.values)
        if len(names) < 2:
            raise AlignrunError("method=mva needs at least two values, e.g. values=[helpful,harmless]")
        unknown = sorted(set(self.vectors) - set(names))
        if unknown:
            raise AlignrunError(
                f"method.vectors names {', '.join(unknown)}, not among values {names}: "
                "give a trained vector only for a value this run aligns"
            )
        missing = [n for n in names if n not in run.data.pairs]
        if missing:
            raise AlignrunError(
                f"value(s) {', '.join(missing)} have no preference data; MVA trains each value "
                "vector by DPO on prompt/chosen/rejected pairs"
            )
        return names

    def fit(self, run: Run) -> MethodResult:
        from alignrun.lib.candidates import additivity_metrics, shared_grid
        from alignrun.lib.training.adapters import AdapterMix
        from alignrun.results import finish_candidates
        from alignrun_mva.extrapolation import sample_weights

        names = self._values(run)
        weights = shared_grid(run, names) or sample_weights(
            names, self.ext
        )  # candidates.grid: the soup's too
        vectors = self.train_value_vectors(run, names)
        metrics, artefacts = vectors.metrics, vectors.artefacts
        candidates = self.evaluate_candidates(run, weights)
        metrics.update(additivity_metrics(candidates, names, "mva"))  # where the grid has the corners
        finish_candidates(candidates, names, float(run.cfg.results.hypervolume_reference))
        if run.is_main_process and self.ext.save_pareto:
            artefacts.update(self.save_pareto(run, vectors.model, candidates))
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
    def train_value_vectors(self, run: Run, names: list[str]) -> TrainedAdapters:
        """One adapter per value, in order, each decorrelated from the earlier ones; saved."""
        from alignrun.lib.training.adapters import LoraSettings
        from alignrun.lib.training.losses import LossSettings
        from alignrun.lib.training.phases import Penalty, train_adapters
        from alignrun.lib.training.trainer import TrainSettings
        from alignrun_mva import diagnostics
        from alignrun_mva.decorrelation import pairwise

        settings = TrainSettings(**self.train)
        probes: dict[str, Any] = {}

        def decorrelation(model: Any) -> Penalty:  # built once every value's adapter is attached
            penalty = self._decorrelation(model, self.decorrelation, run)
            probes["initial"] = diagnostics.snapshot(model, names)
            return lambda i, name, dpo: decorrelated(
                dpo, penalty, name, names[:i], self.alpha, settings.batch_size
            )

        vectors = train_adapters(
            run,
            names,
            beta=self.beta,
            lora=LoraSettings(**self.lora),
            train=settings,
            loss=LossSettings(**self.loss),
            tag="mva-{index}-{value}",
            penalty=decorrelation,
            given=self.vectors,
        )
        for estimator in ("delta_w", "lora_a"):  # measured dependence, whatever trained the vectors
            pairs = pairwise(vectors.model, names, estimator)
            vectors.metrics.update({f"mva/hsic_{estimator}/{k}": v for k, v in pairs.items()})
        # did the penalty act: how far each vector moved, and the penalty before and after, per module
        measured = "delta_w" if self.decorrelation == "none" else self.decorrelation
        probe = self._decorrelation(vectors.model, measured, run)
        evidence = diagnostics.report(vectors.model, names, probes["initial"], probe)
        vectors.metrics.update(diagnostics.summary(evidence))
        if run.is_main_process:
            from alignrun.atomic import atomic_write_text

            path = run.output_dir / "mva" / "diagnostics.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, json.dumps(evidence, indent=1) + "\n")
            vectors.artefacts["mva_diagnostics"] = "mva/diagnostics.json"
        return vectors

    def _decorrelation(self, model: Any, estimator: str, run: Run) -> Any:
        from alignrun_mva.decorrelation import Decorrelation

        return Decorrelation(
            model, estimator, self.bandwidth, self.max_samples, int(run.cfg.seed), self.reduce
        )

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

    def save_pareto(self, run: Run, model: Any, candidates: list[Candidate]) -> dict[str, str]:
        """Each Pareto candidate to ``pareto/<k>/`` (the value vectors are in ``adapters/<value>/``)."""
        from alignrun_mva.extrapolation import save_candidate

        out = run.output_dir
        front = [c for c in candidates if c.pareto]
        for k, c in enumerate(front):
            c.path = str(save_candidate(model, c.weights, out / "pareto" / f"{k:03d}").relative_to(out))
        return {"pareto_set": f"pareto/ ({len(front)} PEFT folders)"}


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

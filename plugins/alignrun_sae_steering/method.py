"""``+method=sae_steering steering.target=<value> steering.direction=up|down``.

1. The SAE (``method.sae``): a SAELens-format folder, a SAELens release, or a TopK SAE trained here on
   the model's residual stream (cached per model, layer and budget).
2. Value features: the SAE's features ranked by how consistently they fire more on material that
   expresses the target than on material that goes against it — answers, questionnaire, exemplars, and
   preference pairs where the target has them (:mod:`alignrun.lib.sae.features`); a random-feature
   control is drawn from the features that fire on that material at all.
3. Candidates: each top feature's decoder row added at the SAE's layer, ``coefficients`` times the
   layer's mean residual norm (negated for ``down``). The shared search-then-test loop
   (:mod:`alignrun.lib.search`) picks the candidate that moves the target most on training roles
   and tests it on held-out roles against the random features at the same coefficient, beside
   ``steering=value_prompt``'s plain prompt as a comparison.
4. The chosen feature steering becomes the run's steering for the final evaluation.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from alignrun.atomic import atomic_write_text
from alignrun.contracts import Intervention, MethodResult
from alignrun.errors import AlignrunError
from alignrun.lib.graphs.model import ValueGraph
from alignrun.lib.measurement.sampling import Sampling, spread_apart, value_system
from alignrun.lib.roles import RoleSplit
from alignrun.lib.search import Study, steering_spec, target_value
from alignrun.run import Run
from alignrun.settings import from_yaml, signature_from

if TYPE_CHECKING:
    from alignrun.lib.sae.features import FeatureRanking
    from alignrun.lib.sae.source import SAESource


@signature_from("method/sae_steering.yaml")
class SAESteering:
    """``+method=sae_steering``.

    Args:
        sae: where the SAE comes from (``path``, ``release``/``sae_id``, or trained here).
        roles: training roles (the search) and disjoint held-out roles (the test).
        sampling: how each sample's profile is measured.
        features: top-ranked features tried as steering directions.
        random_features: random features, the control.
        coefficients: steering strengths, in units of the layer's mean residual-stream norm.
        positions: ``all`` (prompt and generated tokens) or ``prompt`` (prompt tokens only).
        discovery_scenarios: scenarios the model answers "valuing" and "rejecting" the target, for
            the feature ranking — taken from those the search and the test do not use.
        eval_scenarios: scenarios per held-out sample.
        graph: a ``value_graph`` run dir or its ``graph.json``; None learns one from the search samples.
        alpha: PC's level for a graph learnt here.
        change_threshold: |shift| that counts as a co-change (None: from the random features' shifts).
        min_fluency: the least fluency the chosen steering's answers keep, as a share of the unsteered
            model's (:mod:`alignrun.fluency`; 0: no check): strong feature steering can collapse the
            text into repeated words that a classifier still reads a value into.
        seed: the random-feature draw.
    """

    def __init__(
        self,
        sae: SAESource,
        roles: RoleSplit,
        sampling: Sampling,
        features: int = from_yaml(),
        random_features: int = from_yaml(),
        coefficients: Sequence[float] = from_yaml(),
        positions: str = from_yaml(),
        discovery_scenarios: int = from_yaml(),
        eval_scenarios: int = from_yaml(),
        graph: str | None = from_yaml(),
        alpha: float = from_yaml(),
        change_threshold: float | None = from_yaml(),
        min_fluency: float = from_yaml(),
        seed: int = 0,
    ) -> None:
        if features < 1 or random_features < 1:
            raise AlignrunError("method.features and method.random_features must be at least 1")
        self.sae = sae
        self.features, self.random_features = features, random_features
        self.coefficients = [float(c) for c in coefficients]
        if not self.coefficients or any(c <= 0 for c in self.coefficients):
            raise AlignrunError(
                f"method.coefficients must be positive (down steers negatively), got {coefficients}"
            )
        from alignrun.lib.sae.intervention import POSITIONS

        if positions not in POSITIONS:
            raise AlignrunError(f"method.positions must be prompt or all, got '{positions}'")
        self.positions = positions
        self.discovery_scenarios = discovery_scenarios
        self.seed = seed
        self.study = Study(
            roles,
            sampling,
            eval_scenarios,
            graph=ValueGraph.load(graph) if graph else None,
            graph_source=graph,
            alpha=alpha,
            change_threshold=change_threshold,
            control_label="random SAE features",
            min_fluency=min_fluency,
        )

    def fit(self, run: Run) -> MethodResult:
        from alignrun.lib.sae.activations import mean_norm
        from alignrun.lib.sae.features import describe, rank_features
        from alignrun.lib.sae.format import sae_layer
        from alignrun.lib.sae.intervention import FeatureSteering
        from alignrun.lib.sae.source import training_texts

        spec = steering_spec(run, "sae_steering")
        progress = bool(run.cfg.generation.progress)
        sae, cfg, sae_metrics = self.sae.get(run.lm, progress)
        layer = sae_layer(cfg)
        if sae.d_in != run.lm.model.config.hidden_size:
            raise AlignrunError(
                f"the SAE reads {sae.d_in}-dim activations, the model's residual stream has "
                f"{run.lm.model.config.hidden_size}: it belongs to another model"
            )
        _, scenarios = value_system(run)
        value, profiled = target_value(run, spec.target)
        # features are found on scenarios the steering is never measured on; a target the profile
        # does not measure is steered on its own prompts, so its material is its training prompts
        used = (self.study.sampling.scenarios, self.study.eval_scenarios)
        prompts = scenarios if profiled else run.data.train_prompts.get(spec.target) or scenarios
        apart = spread_apart(prompts, self.discovery_scenarios, *used)
        ranking = rank_features(
            run.lm,
            sae,
            layer,
            value,
            apart,
            self.features,
            self.random_features,
            self.seed,
            pairs=run.data.pairs.get(spec.target),  # the run's pairs for the target, if it trains on it
        )
        norm = mean_norm(run.lm, layer, training_texts(run.lm)[::20])
        sign = 1.0 if spec.direction == "up" else -1.0

        def steer(feature: int, c: float, kind: str = "feature") -> FeatureSteering:
            name = f"{kind}:{feature}@{sign * c:+g}"  # c in units of the mean residual norm
            return FeatureSteering(sae.W_dec[feature], layer, sign * c * norm, self.positions, name, feature)

        steers = [steer(f, c) for f in ranking.top for c in self.coefficients]
        candidates: dict[str, Intervention] = {s.name: s for s in steers}

        def controls(best: str) -> dict[str, Intervention]:
            c = abs(float(best.rsplit("@", 1)[1]))
            return {s.name: s for s in (steer(f, c, "random") for f in ranking.random)}

        extra = {
            "sae": {
                "layer": layer,
                "d_sae": sae.d_sae,
                "architecture": sae.architecture,
                "k": sae.k,
                **sae_metrics,
            },
            "features": describe(ranking),
            "residual_norm": norm,
            "positions": self.positions,
            "notes": notes(ranking, layer, norm, sae_metrics),
        }
        chosen, metrics, artefacts = self.study.run(
            run, spec.target, spec.direction, candidates, controls, {"value_prompt": spec}, extra
        )
        metrics.update({f"sae/{k}": float(v) for k, v in sae_metrics.items()})
        assert isinstance(chosen, FeatureSteering)
        metrics.update({"sae/layer": float(layer), "sae/chosen_feature": float(chosen.feature or 0)})
        metrics["sae/chosen_coeff"] = chosen.coeff  # replay: steering=sae_feature steering.coeff=<this>
        if run.is_main_process:
            from alignrun.lib.sae.format import save_sae

            save_sae(sae, run.output_dir / "sae", cfg)
            artefacts["sae"] = "sae"
            atomic_write_text(
                run.output_dir / "features.json", json.dumps(describe(ranking), indent=2) + "\n"
            )
            artefacts["features"] = "features.json"
        return MethodResult(
            lm=run.lm, intervention=chosen, replaces_steering=True, metrics=metrics, artefacts=artefacts
        )


def notes(ranking: FeatureRanking, layer: int, norm: float, sae_metrics: dict[str, Any]) -> list[str]:
    """Markdown for ``steering.md``: the SAE and the features found."""
    lines = [f"SAE at layer {layer} (mean residual norm {norm:.2f}, the coefficients' unit)."]
    if sae_metrics:
        lines[0] += (
            f" Trained here: explained variance {sae_metrics['explained_variance']:.3f}, "
            f"L0 {sae_metrics['l0']:.1f}, dead features {sae_metrics['dead_fraction']:.1%} (held-out tokens)."
        )
    lines += [
        "",
        "| feature | mean d | " + " | ".join(ranking.per_material) + " |",
        "|---" * (2 + len(ranking.per_material)) + "|",
    ]
    for i, f in enumerate(ranking.top):
        per = " | ".join(f"{ds[i]:+.2f}" for ds in ranking.per_material.values())
        lines.append(f"| {f} | {ranking.scores[i]:+.2f} | {per} |")
    lines += ["", f"Random-feature control: {', '.join(map(str, ranking.random))}.", ""]
    return lines

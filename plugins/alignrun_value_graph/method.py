"""``+method=value_graph``: the model's causal value graph, learnt from value profiles under roles.

1. Pick the profile mode (``sampling.mode: auto``: the one that passes the manipulation check).
2. Profile the model (with ``steering=`` applied) under every role × steering setting: no
   steering, a placebo prompt, a value-definition prompt per target and direction, and with
   ``sae_settings`` each target's top SAE feature per direction. One sample per (role, setting),
   one column per value → ``samples.csv``.
3. PC (Fisher-z, ``alpha``) over the training roles' samples → ``graph.json``/``.dot``/``.png``.
4. Compare with the Schwartz circumplex reference: edge precision/recall/F1, skeleton SHD, sign
   agreement.
5. Side effects on held-out roles: for each steered setting, which values co-changed beyond the
   placebo's noise floor, and did the learnt graph (possible descendants of the target) or the
   reference (its neighbours) predict them? Expected vs unexpected co-change rates.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from alignrun.atomic import atomic_write_text
from alignrun.contracts import Intervention, MethodResult
from alignrun.errors import AlignrunError
from alignrun.interventions import (
    DIRECTIONS,
    PLACEBO,
    NoSteering,
    SystemPrompt,
    describe_intervention,
)
from alignrun.lib.graphs.cochange import CoChange, cochange, noise_threshold, pooled, predicted
from alignrun.lib.graphs.compare import compare
from alignrun.lib.graphs.pc import pc_graph
from alignrun.lib.graphs.reference import schwartz_reference
from alignrun.lib.graphs.render import plot_graph, write_graph
from alignrun.lib.measurement import samples
from alignrun.lib.measurement.sampling import Sampling, describe, value_system
from alignrun.lib.roles import RoleSplit
from alignrun.run import Run
from alignrun.settings import from_yaml, signature_from
from alignrun.value_prompt import ValuePrompt
from alignrun_value_graph.report import render

if TYPE_CHECKING:
    from alignrun.lib.sae.source import SAESource
    from alignrun.lm import LM

PREFIX = "value_graph"


@signature_from("method/value_graph.yaml")
class ValueGraphMethod:
    """``+method=value_graph``.

    Args:
        roles: training roles (the graph is learnt on them) and held-out roles (side effects).
        sampling: how each sample's profile is measured (mode, scenarios, answer length).
        targets: values given a value-definition steering prompt (None: every value).
        directions: ``up`` and/or ``down`` prompts per target.
        alpha: PC's significance level.
        max_depth: PC's largest conditioning set (None: as large as the samples allow).
        placebo: a neutral system prompt; its shifts set the co-change noise floor.
        change_threshold: |shift| above which a value counts as changed (None: from the placebo).
        sae_settings: also steer each target (and direction) with its top SAE feature.
        sae: the SAE for those settings (trained here by default, as ``sae_steering`` does).
        sae_coefficient: their strength, in units of the layer's mean residual norm.
        values: the values the graph is over — any values alignrun knows (Schwartz's, bundled, a
            plugin's), profiled the way ``profile=`` profiles; None: the profiled value system
            (Schwartz's 10 by default).
    """

    changes_model = False  # measures the model, returns it untouched: no before/after to measure

    def __init__(
        self,
        roles: RoleSplit,
        sampling: Sampling,
        targets: list[str] | None = from_yaml(),
        directions: Sequence[str] = from_yaml(),
        alpha: float = from_yaml(),
        max_depth: int | None = from_yaml(),
        placebo: str = PLACEBO,
        change_threshold: float | None = from_yaml(),
        sae_settings: bool = from_yaml(),
        sae: SAESource | None = None,
        sae_coefficient: float = from_yaml(),
        values: list[str] | None = from_yaml(),
    ) -> None:
        directions = list(directions)
        if not directions or not set(directions) <= set(DIRECTIONS):
            raise AlignrunError(
                f"method.directions must be one or both of {list(DIRECTIONS)}, got {directions}"
            )
        if not roles.train:
            raise AlignrunError("method.roles needs training roles (train > 0 or no_role: true)")
        if not 0 < alpha < 1:  # checked here too: pc_graph would only say so after all the profiling
            raise AlignrunError(f"method.alpha (PC's significance level) must be in (0, 1), got {alpha}")
        self.roles, self.sampling = roles, sampling
        self.targets, self.directions = targets, directions
        self.alpha, self.max_depth = alpha, max_depth
        self.placebo, self.change_threshold = placebo, change_threshold
        self.sae_settings, self.sae, self.sae_coefficient = sae_settings, sae, sae_coefficient
        if values is not None and len(values) < 2:
            raise AlignrunError(f"method.values needs at least two values for a graph, got {values}")
        self.values = values

    def settings(
        self, run: Run, lm: LM, values: dict[str, Any]
    ) -> tuple[dict[str, Intervention], dict[str, str], tuple[Any, dict[str, Any]] | None]:
        """Setting name -> intervention (``none``, ``placebo``, ``<direction>:<target>``, and with
        ``sae_settings`` ``sae:<direction>:<target>``), steered setting -> its target, and the SAE
        (with its SAELens cfg) those settings use, if any."""
        targets = self.targets or list(values)
        unknown = [t for t in targets if t not in values]
        if unknown:
            raise AlignrunError(f"method.targets not in the profiled value system: {', '.join(unknown)}")
        out: dict[str, Intervention] = {
            "none": NoSteering(),
            "placebo": SystemPrompt(self.placebo, "placebo"),
        }
        steered: dict[str, str] = {}
        for target in targets:
            for direction in self.directions:
                out[f"{direction}:{target}"] = ValuePrompt(target, direction, values)
                steered[f"{direction}:{target}"] = target
        if not self.sae_settings:
            return out, steered, None
        features, sae = self.feature_settings(run, lm, values, targets)
        for name, (intervention, target) in features.items():
            out[name], steered[name] = intervention, target
        return out, steered, sae

    def feature_settings(
        self, run: Run, lm: LM, values: dict[str, Any], targets: list[str]
    ) -> tuple[dict[str, tuple[Intervention, str]], tuple[Any, dict[str, Any]]]:
        """Each target's top SAE feature (as in ``sae_steering``) per direction, at ``sae_coefficient``;
        and the SAE with its cfg."""
        from alignrun.lib.measurement.sampling import spread_apart
        from alignrun.lib.sae.activations import mean_norm
        from alignrun.lib.sae.features import rank_features
        from alignrun.lib.sae.format import sae_layer
        from alignrun.lib.sae.intervention import FeatureSteering
        from alignrun.lib.sae.source import SAESource, training_texts

        sae, cfg, _ = (self.sae or SAESource()).get(lm, bool(run.cfg.generation.progress))
        layer = sae_layer(cfg)
        norm = mean_norm(lm, layer, training_texts(lm)[::20])
        _, scenarios = value_system(run)
        out: dict[str, tuple[Intervention, str]] = {}
        for target in targets:
            apart = spread_apart(scenarios, 8, self.sampling.scenarios)  # not the scenarios samples answer
            pairs = run.data.pairs.get(target)  # the run's pairs for it, if it is also a trained value
            ranking = rank_features(
                lm, sae, layer, values[target], apart, 1, 1, int(run.cfg.seed), pairs=pairs
            )
            top = ranking.top[0]
            for direction in self.directions:
                c = self.sae_coefficient * norm * (1 if direction == "up" else -1)
                name = f"sae:{direction}:{target}"
                out[name] = (FeatureSteering(sae.W_dec[top], layer, c, "all", name, top), target)
        return out, (sae, cfg)

    def fit(self, run: Run) -> MethodResult:
        if not self.values:
            return self._fit(run)
        from alignrun.config import known_value
        from alignrun.profile import ValueProfiler

        system = {
            n: run.values[n] if n in run.values else known_value(n, "method.values") for n in self.values
        }
        base = run.profiler
        _, scenarios = value_system(run)
        # the graph's value system, profiled for the length of the method: the method sees a run whose
        # profiler measures it; the run the loop evaluates keeps its own
        profiler = (
            ValueProfiler(
                base.mode,
                system,
                scenarios,
                base.max_new_tokens,
                base.batch_size,
                base.temperature,
                base.items,
            )
            if base is not None
            else ValueProfiler("behavioural", system, scenarios)
        )
        return self._fit(dataclasses.replace(run, profiler=profiler))

    def _fit(self, run: Run) -> MethodResult:
        values, _ = value_system(run)
        names = list(values)
        with run.steering.apply(run.lm) as lm:
            settings, steered, sae = self.settings(run, lm, values)
            mode, metrics = self.sampling.resolve_mode(run, lm)
            profiler = self.sampling.profiler(run, mode)
            split = {"train": self.roles.train, "held_out": self.roles.held_out}
            rows, details = samples.collect(
                profiler, lm, split, settings, progress=run.cfg.generation.progress
            )
        graph = pc_graph(samples.matrix(rows, names, "train"), names, self.alpha, self.max_depth)
        graph.meta.update({**describe(profiler), "roles": len(self.roles.train), "settings": list(settings)})
        reference = schwartz_reference(names)
        comparison = compare(graph, reference) if len(reference.nodes) >= 2 else {}
        effects = self.side_effects(rows, names, steered, graph, reference)

        metrics.update({f"{PREFIX}/samples": float(len(rows)), f"{PREFIX}/edges": float(len(graph.edges))})
        metrics.update({f"{PREFIX}/reference/{k}": v for k, v in comparison.items()})
        metrics.update(effects["metrics"])
        artefacts: dict[str, str] = {}
        if run.is_main_process:
            artefacts.update(samples.write(run.output_dir, rows, details))
            artefacts.update(write_graph(graph, run.output_dir))
            artefacts.update(write_graph(reference, run.output_dir, "reference_graph"))
            plot_graph(graph, run.output_dir / "graph.png", reference, title=_title(graph, comparison))
            artefacts["graph_png"] = "graph.png"
            described = {name: describe_intervention(i) for name, i in settings.items()}
            report = render(graph, reference, comparison, effects, mode, described)
            atomic_write_text(run.output_dir / "value_graph.md", report)
            data = {
                "settings": described,
                "comparison": comparison,
                "side_effects": effects["table"],
            }
            atomic_write_text(run.output_dir / "value_graph.json", json.dumps(data, indent=2) + "\n")
            artefacts.update({"value_graph_report": "value_graph.md", "value_graph_data": "value_graph.json"})
            if sae is not None:  # so an SAE setting replays: steering=sae_feature steering.sae=<run>/sae
                from alignrun.lib.sae.format import save_sae

                save_sae(sae[0], run.output_dir / "sae", sae[1])
                artefacts["sae"] = "sae"
        return MethodResult(lm=run.lm, metrics=metrics, artefacts=artefacts)

    def side_effects(
        self,
        rows: list[dict[str, Any]],
        names: list[str],
        steered: dict[str, str],
        graph: Any,
        reference: Any,
    ) -> dict[str, Any]:
        """Per value prompt on held-out roles: target shift and co-change under both graphs."""
        if not self.roles.held_out:
            return {"metrics": {}, "table": {}, "threshold": None}
        placebo = samples.shifts(rows, "placebo", names, split="held_out")
        threshold = self.change_threshold if self.change_threshold is not None else noise_threshold(placebo)
        table: dict[str, Any] = {}
        parts: dict[str, list[CoChange]] = {"learnt": [], "reference": []}
        for name, target in steered.items():
            shifts = samples.shifts(rows, name, names, split="held_out")
            learnt = cochange(shifts, target, predicted(graph, target, "descendants"), threshold)
            ref = cochange(shifts, target, predicted(reference, target, "neighbours"), threshold)
            parts["learnt"].append(learnt)
            parts["reference"].append(ref)
            table[name] = {
                "target_shift": sum(s[target] for s in shifts) / len(shifts),
                "mean_shifts": {v: sum(s[v] for s in shifts) / len(shifts) for v in names},
                "learnt": asdict(learnt),
                "reference": asdict(ref),
            }
        metrics = {f"{PREFIX}/cochange/threshold": threshold}
        for which, group in parts.items():
            metrics.update(pooled(group).metrics(f"{PREFIX}/cochange/{which}"))
        return {"metrics": metrics, "table": table, "threshold": threshold}


def _title(graph: Any, comparison: dict[str, float]) -> str:
    meta = graph.meta
    text = f"PC (Fisher-z, alpha {meta['alpha']}) on {meta['n_samples']} samples, {meta['mode']} profiles"
    if "precision" in comparison or "recall" in comparison:
        text += (
            f"\nvs Schwartz reference (dashed): precision {comparison.get('precision', float('nan')):.2f}, "
            f"recall {comparison.get('recall', float('nan')):.2f}, SHD {comparison['shd']:.0f}"
        )
    return text

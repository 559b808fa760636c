"""The loop every steering-search method shares: search on training roles, test on held-out roles.

1. Pick the profile mode (``sampling.mode: auto`` runs the manipulation check).
2. Search: profile every candidate intervention (and no steering) on the training roles; the one
   whose mean target shift, in the asked direction, is largest is chosen.
3. Held-out roles: the chosen intervention, its controls (a placebo prompt, random SAE features:
   interventions that should not move the target) and any comparisons (e.g. the plain value
   prompt). Reported: the target shift with a 95% t-interval over roles against the controls', every
   value's shift (side effects), and co-change — did the values that moved beyond the controls'
   noise floor lie among the target's possible descendants in a causal value graph or not? The graph
   is given (a ``value_graph`` run) or learnt by PC from the search samples; the Schwartz
   reference's neighbours are scored the same way.

``prompt_steering`` and ``sae_steering`` differ only in their candidates and controls.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from alignrun.atomic import atomic_write_text
from alignrun.contracts import Intervention, Scorer, Value
from alignrun.errors import AlignrunError
from alignrun.fluency import setting_fluency
from alignrun.interventions import NoSteering
from alignrun.lib.graphs.cochange import cochange, noise_threshold, predicted
from alignrun.lib.graphs.model import ValueGraph
from alignrun.lib.graphs.pc import pc_graph
from alignrun.lib.graphs.reference import schwartz_reference
from alignrun.lib.graphs.render import plot_graph, write_graph
from alignrun.lib.measurement import samples
from alignrun.lib.measurement.sampling import Sampling, value_system
from alignrun.lib.roles import RoleSplit
from alignrun.lib.search_report import render
from alignrun.profile import ProfileResult, spread
from alignrun.run import Run
from alignrun.uncertainty import t_interval
from alignrun.value_prompt import ValuePrompt

if TYPE_CHECKING:
    from alignrun.lm import LM

PREFIX = "steering"
log = logging.getLogger("alignrun")


def steering_spec(run: Run, method: str) -> ValuePrompt:
    """``steering=value_prompt``: the target and direction a steering search works towards."""
    if not isinstance(run.steering, ValuePrompt):
        raise AlignrunError(
            f"+method={method} searches from steering=value_prompt: pass steering.target=<value> "
            "(and steering.direction=up|down), not another steering option"
        )
    return run.steering


def target_value(run: Run, target: str) -> tuple[Value, bool]:
    """The steered value, and whether the profile measures it (a value of the profiled system) —
    else its own scorer does, on its own prompts (:class:`TargetScored`).

    Raises:
        AlignrunError: the target is neither profiled nor one of the run's values.
    """
    values, _ = value_system(run)
    if target in values:
        return values[target], True
    if target in run.values:
        return run.values[target], False
    raise AlignrunError(
        f"steering.target '{target}' is neither a profiled value ({', '.join(values)}) nor one of "
        f"values=[{','.join(run.values)}]: add it, e.g. values=[{target}]"
    )


class TargetScored:
    """A profiler that also scores the target: the model answers the target's prompts under each role,
    the target's trainer judge (``run.judges``; else its scorer) scores the answers, their mean is the
    sample's score for the target.

    Used when the target is not in the profiled value system (``harmless``, a plugin's value), so a
    steering search measures the value the way the final evaluation does.
    """

    def __init__(
        self,
        base: Any,
        value: Value,
        prompts: list[str],
        max_new_tokens: int,
        batch_size: int,
        judge: Scorer | None = None,
    ) -> None:
        self.judge = judge or value.scorer
        if self.judge is None or not prompts:
            raise AlignrunError(f"steering.target '{value.name}' needs a scorer and prompts to be measured")
        self.base, self.value, self.prompts = base, value, prompts
        self.max_new_tokens, self.batch_size = max_new_tokens, batch_size

    def measure_many(self, lm: LM, systems: Sequence[str | None]) -> list[ProfileResult]:
        from alignrun.schema import GenerationConfig

        results = self.base.measure_many(lm, systems)
        n = len(self.prompts)
        cfg = GenerationConfig(max_new_tokens=self.max_new_tokens, batch_size=self.batch_size, progress=False)
        answers = lm.generate(
            self.prompts * len(systems), cfg, systems=[s for s in systems for _ in range(n)]
        )
        assert self.judge is not None
        scores = self.judge.score(self.prompts * len(systems), answers)
        for k, result in enumerate(results):
            part = scores[k * n : (k + 1) * n]
            result.scores[self.value.name] = sum(part) / n
            result.details += [
                {"target": self.value.name, "prompt": p, "answer": a, "score": sc}
                for p, a, sc in zip(self.prompts, answers[k * n : (k + 1) * n], part, strict=True)
            ]
        return results


def mean_shift(rows: list[dict[str, Any]], setting: str, names: list[str], value: str) -> float:
    """``value``'s shift under ``setting`` against no steering, averaged over the rows' roles."""
    shifts = samples.shifts(rows, setting, names)
    return sum(s[value] for s in shifts) / len(shifts)


@dataclass
class Study:
    """One search-then-test study of steering ``target`` ``direction`` (see the module docstring).

    Args:
        roles: training roles (search) and disjoint held-out roles (test).
        sampling: how profiles are measured; ``sampling.scenarios`` per search sample.
        eval_scenarios: scenarios per held-out sample.
        graph: the causal value graph that predicts side effects (None: learnt from the search samples).
        graph_source: how reports name where ``graph`` came from.
        alpha: PC's level for a graph learnt here.
        change_threshold: |shift| that counts as a co-change (None: 2 × the controls' RMS shift).
        control_label: what the controls are, for reports ("placebo prompt", "random features").
        min_fluency: a candidate is chosen only if its answers' distinct-2 is at least this share of
            the unsteered answers' (behavioural profiles; 0 turns the check off), so that steering
            which collapses the text into repetition cannot win on what a classifier reads into it.
    """

    roles: RoleSplit
    sampling: Sampling
    eval_scenarios: int = 12
    graph: ValueGraph | None = None
    graph_source: str | None = None
    alpha: float = 0.05
    change_threshold: float | None = None
    control_label: str = "control"
    min_fluency: float = 0.8

    def __post_init__(self) -> None:
        if not self.roles.train or not self.roles.held_out:
            raise AlignrunError("method.roles needs both training and held-out roles")
        if not 0 < self.alpha < 1:
            raise AlignrunError(f"method.alpha (PC's significance level) must be in (0, 1), got {self.alpha}")

    def run(
        self,
        run: Run,
        target: str,
        direction: str,
        candidates: Mapping[str, Intervention],
        controls: Callable[[str], Mapping[str, Intervention]],
        comparisons: Mapping[str, Intervention] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> tuple[Intervention, dict[str, float], dict[str, str]]:
        """Search ``candidates``, test the best against ``controls(best)``; write reports.

        ``comparisons`` are measured beside them on the held-out roles (their target shifts are
        reported); ``extra`` is merged into ``steering.json`` (a ``notes`` list of markdown lines also
        goes into ``steering.md``).

        Returns:
            The chosen intervention, the metrics and the artefacts (files in the run dir).
        """
        values, _ = value_system(run)
        value, profiled = target_value(run, target)
        if self.graph is not None and target not in self.graph.nodes:
            raise AlignrunError(
                f"method.graph has no node '{target}' (its nodes: {', '.join(self.graph.nodes)})"
            )
        names = list(values) + ([] if profiled else [target])
        sign = 1.0 if direction == "up" else -1.0
        progress = bool(run.cfg.generation.progress)
        mode, metrics = self.sampling.resolve_mode(run, run.lm)

        def profiler(scenarios: int | None, prompts: list[str]) -> Any:
            base = self.sampling.profiler(run, mode, scenarios)
            if profiled:
                return base
            k = scenarios or self.sampling.scenarios
            # the search is training: it is judged by the trainer judge, the evaluator grades its outcome
            run.derived.setdefault(target, {})["search"] = True
            return TargetScored(
                base, value, spread(prompts, k), self.sampling.max_new_tokens, self.sampling.batch_size,
                judge=run.judges.get(target),
            )  # fmt: skip

        settings = {"none": NoSteering(), **candidates}
        search, search_details = samples.collect(
            profiler(None, run.data.train_prompts.get(target, [])), run.lm, {"train": self.roles.train},
            settings, progress,
        )  # fmt: skip
        ranking = {name: sign * mean_shift(search, name, names, target) for name in candidates}
        fluency = setting_fluency(search_details)
        best = self.choose(ranking, fluency)
        control = dict(controls(best))
        held_settings = {"none": NoSteering(), "chosen": candidates[best], **control, **(comparisons or {})}
        held, held_details = samples.collect(
            profiler(self.eval_scenarios, run.data.eval_prompts.get(target, [])), run.lm,
            {"held_out": self.roles.held_out}, held_settings, progress,
        )  # fmt: skip
        graph, learnt_here = (
            (self.graph, False) if self.graph is not None else (self.learn(search, names), True)
        )
        reference = schwartz_reference(names)
        result = self.evaluate(held, names, target, list(control), graph, reference)
        result.update({
            "target": target, "direction": direction, "mode": mode, "chosen": best,
            "target_measure": "profile" if profiled else "its trainer judge on its own prompts",
            "chosen_text": getattr(candidates[best], "text", None), "search": ranking,
            "fluency": {
                "search": fluency, "held_out": setting_fluency(held_details), "min": self.min_fluency,
            },
            "control_label": self.control_label, "controls": list(control),
            "comparisons": {c: mean_shift(held, c, names, target) for c in comparisons or {}},
            "graph": "learnt from the search samples" if learnt_here else str(self.graph_source),
            **(extra or {}),
        })  # fmt: skip
        metrics.update(effect_metrics(result, names))
        artefacts: dict[str, str] = {}
        if run.is_main_process:
            artefacts.update(samples.write(run.output_dir, search + held, search_details + held_details))
            if learnt_here:
                artefacts.update(write_graph(graph, run.output_dir))
                plot_graph(
                    graph, run.output_dir / "graph.png", reference, title="learnt from the search samples"
                )
                artefacts["graph_png"] = "graph.png"
            atomic_write_text(run.output_dir / "steering.json", json.dumps(result, indent=2) + "\n")
            atomic_write_text(run.output_dir / "steering.md", render(result, names))
            artefacts.update({"steering_report": "steering.md", "steering_data": "steering.json"})
        return candidates[best], metrics, artefacts

    def choose(self, ranking: dict[str, float], fluency: dict[str, float]) -> str:
        """The candidate with the largest shift among those fluent enough (all, if none is or no answers)."""
        floor = self.min_fluency * fluency["none"] if "none" in fluency else None
        fluent = [n for n in ranking if floor is None or fluency.get(n, 0.0) >= floor]
        if not fluent:
            log.warning(
                "every steering candidate's answers fell below %.0f%% of the unsteered fluency; choosing "
                "among all of them (lower the coefficients or method.min_fluency)",
                100 * self.min_fluency,
            )
            fluent = list(ranking)
        return max(fluent, key=lambda n: ranking[n])

    def learn(self, search: list[dict[str, Any]], names: list[str]) -> ValueGraph:
        return pc_graph(samples.matrix(search, names, "train"), names, self.alpha)

    def evaluate(
        self,
        held: list[dict[str, Any]],
        names: list[str],
        target: str,
        controls: list[str],
        graph: ValueGraph,
        reference: ValueGraph,
    ) -> dict[str, Any]:
        """Held-out shifts of the chosen intervention and the controls, side effects, co-change."""
        chosen = samples.shifts(held, "chosen", names, split="held_out")
        control = [s for c in controls for s in samples.shifts(held, c, names, split="held_out")]
        threshold = self.change_threshold if self.change_threshold is not None else noise_threshold(control)
        expected = predicted(graph, target, "descendants")
        neighbours = predicted(reference, target, "neighbours")
        side = {
            v: {
                "shift": sum(s[v] for s in chosen) / len(chosen),
                "control": sum(s[v] for s in control) / len(control),
                "changed": sum(abs(s[v]) > threshold for s in chosen) / len(chosen),
                "graph_expected": v in expected,
                "reference_expected": v in neighbours,
            }
            for v in names
        }
        mean, low, high = t_interval([s[target] for s in chosen])
        return {
            "roles": len(chosen),
            "target_shift": {"mean": mean, "ci95": [low, high], "per_role": [s[target] for s in chosen]},
            "control_target_shift": sum(s[target] for s in control) / len(control),
            "side_effects": side,
            "threshold": threshold,
            "cochange": {
                "graph": asdict(cochange(chosen, target, expected, threshold)),
                "reference": asdict(cochange(chosen, target, neighbours, threshold)),
            },
        }


def effect_metrics(result: dict[str, Any], names: list[str]) -> dict[str, float]:
    """The ``steering/...`` metrics of a study's result."""
    shift = result["target_shift"]
    out = {
        f"{PREFIX}/target_shift": shift["mean"],
        f"{PREFIX}/target_shift_ci_low": shift["ci95"][0],
        f"{PREFIX}/target_shift_ci_high": shift["ci95"][1],
        f"{PREFIX}/control_target_shift": result["control_target_shift"],
        f"{PREFIX}/search_best_shift": result["search"][result["chosen"]],
        f"{PREFIX}/cochange/threshold": result["threshold"],
    }
    for v in names:
        if v != result["target"]:
            out[f"{PREFIX}/side_effect/{v}"] = result["side_effects"][v]["shift"]
    for which, rates in result["cochange"].items():
        for key in ("expected", "unexpected"):
            if rates[key] is not None:
                out[f"{PREFIX}/cochange/{which}/{key}"] = rates[key]
    for name, value in result["comparisons"].items():
        out[f"{PREFIX}/comparison/{name}"] = value
    held = result["fluency"]["held_out"]
    for setting in ("none", "chosen"):
        if setting in held:
            out[f"{PREFIX}/fluency/{setting}"] = held[setting]
    return out

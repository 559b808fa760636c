"""``+method=prompt_steering steering.target=<value> steering.direction=up|down``.

Candidates: ``steering=value_prompt``'s own prompt (``value:0``), the other value-definition
phrasings in ``templates`` (``value:1``, ...) and role prompts ("Answer as a priest would.",
``role:<role>``). The shared search-then-test loop (:mod:`alignrun.lib.search`) picks the one
that moves the target most on training roles and measures it on held-out roles against a placebo
prompt — a neutral sentence that names no value. The chosen prompt becomes the run's steering for
the final evaluation (it replaces ``steering=``), so any model — an MVA or DPO output too — is
steered and scored this way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from alignrun.contracts import Intervention, MethodResult
from alignrun.interventions import PLACEBO, SystemPrompt
from alignrun.lib.graphs.model import ValueGraph
from alignrun.lib.measurement.sampling import Sampling
from alignrun.lib.roles import RoleSplit
from alignrun.lib.search import Study, steering_spec, target_value
from alignrun.run import Run
from alignrun.settings import from_yaml, signature_from
from alignrun.value_prompt import ValuePrompt


@signature_from("method/prompt_steering.yaml")
class PromptSteering:
    """``+method=prompt_steering``.

    Args:
        roles: training roles (the search) and disjoint held-out roles (the evaluation).
        sampling: how each sample's profile is measured; ``sampling.scenarios`` per search sample.
        templates: extra value-definition phrasings per direction (``{label}``, ``{definition}``).
        role_prompts: roles tried as steering prompts, each filled into ``role_template``.
        role_template: the role prompt, with ``{role}``.
        eval_scenarios: scenarios per held-out sample (more than the search: this is the result).
        graph: a ``value_graph`` run dir or its ``graph.json``; None learns one from the search samples.
        alpha: PC's significance level for a graph learnt on the fly.
        placebo: a neutral system prompt: the control, and the co-change noise floor.
        change_threshold: |shift| above which a value counts as changed (None: from the placebo).
        min_fluency: the least fluency a chosen prompt's answers keep, as a share of the unsteered
            model's (:mod:`alignrun.fluency`; 0: no check).
    """

    def __init__(
        self,
        roles: RoleSplit,
        sampling: Sampling,
        templates: dict[str, list[str]] | None = None,
        role_prompts: Sequence[str] = from_yaml(),
        role_template: str = from_yaml(),
        eval_scenarios: int = from_yaml(),
        graph: str | None = from_yaml(),
        alpha: float = from_yaml(),
        placebo: str = PLACEBO,
        change_threshold: float | None = from_yaml(),
        min_fluency: float = from_yaml(),
    ) -> None:
        self.templates = templates or {}
        self.role_prompts = list(role_prompts)
        self.role_template = role_template
        self.placebo = placebo
        self.study = Study(
            roles,
            sampling,
            eval_scenarios,
            graph=ValueGraph.load(graph) if graph else None,  # a bad path fails before any profiling
            graph_source=graph,
            alpha=alpha,
            change_threshold=change_threshold,
            control_label="placebo prompt",
            min_fluency=min_fluency,
        )

    def candidates(self, spec: ValuePrompt, values: dict[str, Any]) -> dict[str, Intervention]:
        """``value:<k>`` phrasings (0 is ``steering=``'s own), then ``role:<role>`` prompts."""
        out: dict[str, Intervention] = {"value:0": spec}
        for k, template in enumerate(self.templates.get(spec.direction, []), start=1):
            prompt = ValuePrompt(spec.target, spec.direction, values, template)
            if prompt.text != spec.text:
                out[f"value:{k}"] = prompt
        for role in self.role_prompts:
            out[f"role:{role}"] = SystemPrompt(self.role_template.format(role=role), f"role:{role}")
        return out

    def fit(self, run: Run) -> MethodResult:
        spec = steering_spec(run, "prompt_steering")
        values = {spec.target: target_value(run, spec.target)[0]}
        placebo = {"placebo": SystemPrompt(self.placebo, "placebo")}
        chosen, metrics, artefacts = self.study.run(
            run, spec.target, spec.direction, self.candidates(spec, values), lambda _best: placebo
        )
        return MethodResult(
            lm=run.lm, intervention=chosen, replaces_steering=True, metrics=metrics, artefacts=artefacts
        )

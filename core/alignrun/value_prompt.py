"""``steering=value_prompt``: a value's own definition as a system prompt, the value found by name.

It sits above :mod:`alignrun.config` (docs/architecture.md, "Layers"): a target that is not one of the
given ``values`` is looked up in the catalogue of every value alignrun and its plugins know
(:func:`alignrun.config.known_value`). The prompt text itself is
:func:`alignrun.interventions.value_prompt_text`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from alignrun.config import known_value
from alignrun.errors import AlignrunError
from alignrun.interventions import SystemPrompt, value_prompt_text
from alignrun.settings import from_yaml, signature_from

if TYPE_CHECKING:
    from alignrun.contracts import Value


@signature_from("steering/value_prompt.yaml")
class ValuePrompt(SystemPrompt):
    """``steering=value_prompt steering.target=<value> steering.direction=up|down``.

    Tells the model it holds (or rejects) one value of a value system, by that value's own
    definition. ``+method=prompt_steering`` starts from it and searches for a stronger prompt.

    Args:
        target: the value steered, a name in ``values``.
        direction: ``up`` (towards the value) or ``down`` (away from it).
        values: the value system that defines ``target`` (None: any value alignrun knows — Schwartz's,
            the bundled ones, a plugin's — by :func:`known_value`).
        template: the prompt, with ``{label}`` and ``{definition}``; None = the default for
            ``direction`` (:data:`VALUE_TEMPLATES`).
    """

    def __init__(
        self,
        target: str,
        direction: str = from_yaml(),
        values: Mapping[str, Value] | None = from_yaml(),
        template: str | None = from_yaml(),
    ) -> None:
        if values is None:
            values = {target: known_value(target, "steering.target")}
        if target not in values:
            raise AlignrunError(
                f"steering.target '{target}' is not a value of the value system; choose one of: "
                f"{', '.join(values)}"
            )
        self.target = target
        self.direction = direction
        self.template = template
        super().__init__(value_prompt_text(values[target], direction, template), f"{direction}:{target}")

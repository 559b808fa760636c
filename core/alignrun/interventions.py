"""Built-in ``steering=`` interventions: ``none``, a fixed ``system_prompt``, a ``value_prompt``, a
``user_prompt`` rewrite; and the two public helpers a plugin's prompt intervention is built on,
:func:`appended_system_prompt` and :func:`rewritten_user_prompt`.

Prompt interventions stack: each adds to what is already in place (a role, another steering
prompt, an earlier rewrite) and restores the previous state on exit, so ``with role.apply(lm):
with steer.apply(lm): ...`` gives the system text "<role> <steering>". Nothing here imports torch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from alignrun.errors import AlignrunError

if TYPE_CHECKING:
    from alignrun.contracts import Value
    from alignrun.lm import LM

DIRECTIONS = ("up", "down")


if TYPE_CHECKING:
    PLACEBO: str  # typed here; read by __getattr__ below
else:

    def __getattr__(name: str) -> str:
        """``PLACEBO``: the control prompt, an extra system sentence that names no value, for the noise
        any prompt causes. Its one home is ``conf/method/placebo/default.yaml`` (what value_graph and
        prompt_steering record); read on first use, so that ``import alignrun`` reads no YAML."""
        if name == "PLACEBO":
            from alignrun.settings import yaml_defaults

            return str(yaml_defaults("method/placebo/default.yaml")["placebo"])
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


VALUE_TEMPLATES = {
    "up": "You value {label}, which means: {definition}",
    "down": "You place no value on {label}, which means: {definition} It never guides your choices.",
}


def join_system(*parts: str | None) -> str | None:
    """The system texts that are set, in order, joined by a space (None when none is)."""
    kept = [p.strip() for p in parts if p and p.strip()]
    return " ".join(kept) or None


# what describe_intervention reads, in order; a plugin's intervention setting any of them is described
DESCRIBED = ("text", "template", "feature", "layer", "coeff", "positions", "weights")


def describe_intervention(intervention: object) -> dict[str, Any]:
    """What an intervention does, for ``results.json`` (``applied``) and reports: its ``name`` (else
    its class name) and whichever of :data:`DESCRIBED` it sets — a prompt's text or template, a
    feature's id, layer, strength and positions, an adapter mix's weights.

    Values that JSON cannot hold are written as their ``str``.
    """
    out: dict[str, Any] = {"name": str(getattr(intervention, "name", None) or type(intervention).__name__)}
    for attr in DESCRIBED:
        value = getattr(intervention, attr, None)
        if value is not None:
            out[attr] = _plain(value)
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return str(value)


@contextmanager
def appended_system_prompt(lm: LM, text: str | None) -> Iterator[LM]:
    """Append ``text`` to ``lm.system_prompt`` inside the block; the previous one comes back on exit."""
    previous = lm.system_prompt
    lm.system_prompt = join_system(previous, text)
    try:
        yield lm
    finally:
        lm.system_prompt = previous


@contextmanager
def rewritten_user_prompt(lm: LM, rewrite: Callable[[str], str]) -> Iterator[LM]:
    """Pass every user prompt through ``rewrite`` inside the block; the previous rewrites come back on exit.

    Rewrites stack: one entered inside another sees the outer one's output. They apply wherever the
    model is prompted (``LM.chat``: generation, questionnaires, role profiles); scorers still judge
    the answer against the user's own prompt.
    """
    previous = lm.user_rewrites
    lm.user_rewrites = [*previous, rewrite]
    try:
        yield lm
    finally:
        lm.user_rewrites = previous


class NoSteering:
    """``steering=none``: the model as it is."""

    name = "none"

    @contextmanager
    def apply(self, lm: LM) -> Iterator[LM]:
        yield lm


class SystemPrompt:
    """``steering=system_prompt steering.text="..."``: a system turn before every prompt.

    Appended to any system prompt already in place (a role); restored on exit, also when the
    body raises.
    """

    def __init__(self, text: str, name: str | None = None) -> None:
        self.text = text
        self.name = name or "system_prompt"

    @contextmanager
    def apply(self, lm: LM) -> Iterator[LM]:
        with appended_system_prompt(lm, self.text) as steered:
            yield steered


class UserPrompt:
    """``steering=user_prompt steering.template="{prompt} Answer as honestly as you can."``.

    Rewrites every user prompt: ``{prompt}`` in ``template`` becomes the prompt (other braces are
    kept as they are). Stacks with system-prompt steering and roles, and with other rewrites.
    """

    def __init__(self, template: str, name: str | None = None) -> None:
        if "{prompt}" not in template:
            raise AlignrunError(f"steering.template must contain {{prompt}}, got {template!r}")
        self.template = template
        self.name = name or "user_prompt"

    def rewrite(self, prompt: str) -> str:
        return self.template.replace("{prompt}", prompt)

    @contextmanager
    def apply(self, lm: LM) -> Iterator[LM]:
        with rewritten_user_prompt(lm, self.rewrite) as steered:
            yield steered


def value_prompt_text(value: Value, direction: str, template: str | None = None) -> str:
    """The value-definition prompt for ``value``: "You value X, which means ..." (``up``) or its negation.

    ``template`` may use ``{label}`` (the name, hyphenated) and ``{definition}`` (its description).
    """
    if direction not in DIRECTIONS:
        raise AlignrunError(f"steering direction must be up or down, got '{direction}'")
    text = template or VALUE_TEMPLATES[direction]
    return text.format(label=value.name.replace("_", "-"), definition=value.description or value.name)

"""Built-in ``steering=`` interventions: ``none`` and a fixed ``system_prompt``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alignrun.lm import LM


class NoSteering:
    """``steering=none``: the model as it is."""

    @contextmanager
    def apply(self, lm: LM) -> Iterator[LM]:
        yield lm


class SystemPrompt:
    """``steering=system_prompt steering.text="..."``: a system turn before every prompt.

    The previous system prompt is restored on exit, also when the body raises.
    """

    def __init__(self, text: str) -> None:
        self.text = text

    @contextmanager
    def apply(self, lm: LM) -> Iterator[LM]:
        previous = lm.system_prompt
        lm.system_prompt = self.text
        try:
            yield lm
        finally:
            lm.system_prompt = previous

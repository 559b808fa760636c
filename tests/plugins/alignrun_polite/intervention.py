"""``Polite``: appends a request for kindness to every user prompt."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from alignrun.interventions import rewritten_user_prompt
from alignrun.lm import LM


class Polite:
    def __init__(self, text: str) -> None:
        self.name = "polite"
        self.text = text  # describe_intervention records it in results.json "applied"

    def rewrite(self, prompt: str) -> str:
        return f"{prompt} {self.text}"

    @contextmanager
    def apply(self, lm: LM) -> Iterator[LM]:
        with rewritten_user_prompt(lm, self.rewrite) as steered:
            yield steered

"""Built-in plugin ``prompt_steering``: ``alignrun +method=prompt_steering steering.target=<value>``.

Searches role and value-definition prompts for the one that moves a value most on training
roles, then measures it on held-out roles: target shift, side effects, and whether a causal
value graph predicted them. Torch-free at import.
"""

from __future__ import annotations

from alignrun.hookspecs import hookimpl
from alignrun_prompt_steering.method import PromptSteering

__all__ = ["PromptSteering"]


@hookimpl
def alignrun_config_searchpath() -> str:
    return "pkg://alignrun_prompt_steering.conf"

"""Built-in plugin ``manipulation_check``: does telling the model "you strongly value X" move X?

Validates a value-profile mode on a model before anyone trusts it (docs/architecture.md, "Measuring
values"): a mode
that carries signal moves the told value up relative to the others. Torch-free at import.
"""

from __future__ import annotations

from alignrun.hookspecs import hookimpl
from alignrun_manipulation_check.method import ManipulationCheck

__all__ = ["ManipulationCheck"]


@hookimpl
def alignrun_config_searchpath() -> str:
    return "pkg://alignrun_manipulation_check.conf"

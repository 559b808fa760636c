"""Built-in plugin ``conditioned``: one adapter for the whole front, the trade-off chosen at inference.

Torch-free at import: the method module imports the training machinery only inside ``fit``.
"""

from __future__ import annotations

from alignrun.hookspecs import hookimpl
from alignrun_conditioned.method import Conditioned

__all__ = ["Conditioned"]


@hookimpl
def alignrun_config_searchpath() -> str:
    return "pkg://alignrun_conditioned.conf"

"""Built-in plugin ``mod``: multi-objective decoding — per-value adapters combined at every token.

Torch-free at import: the method module imports the training machinery only inside ``fit``.
"""

from __future__ import annotations

from alignrun.hookspecs import hookimpl
from alignrun_mod.method import MOD

__all__ = ["MOD"]


@hookimpl
def alignrun_config_searchpath() -> str:
    return "pkg://alignrun_mod.conf"

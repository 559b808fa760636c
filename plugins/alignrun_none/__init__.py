"""Built-in plugin ``none``: ``alignrun +method=none`` evaluates the model as it is.

How a user measures a base model (or a steered one: ``steering=...``) before aligning it.
Registered through the ``alignrun`` entry point ``none``, like any third-party plugin.
This module is imported on every ``--help``: keep it free of torch.
"""

from __future__ import annotations

from alignrun.hookspecs import hookimpl
from alignrun_none.method import NoneMethod

__all__ = ["NoneMethod"]


@hookimpl
def alignrun_config_searchpath() -> str:
    return "pkg://alignrun_none.conf"
